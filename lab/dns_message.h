#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace mxcensus::lab::dns {

// RR types and classes the lab serves.
inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeNs = 2;
inline constexpr uint16_t kTypeCname = 5;
inline constexpr uint16_t kTypeSoa = 6;
inline constexpr uint16_t kTypeMx = 15;
inline constexpr uint16_t kTypeTxt = 16;
inline constexpr uint16_t kTypeAaaa = 28;
inline constexpr uint16_t kTypeOpt = 41;
inline constexpr uint16_t kTypeTlsa = 52;
inline constexpr uint16_t kTypeAny = 255;
inline constexpr uint16_t kClassIn = 1;

inline constexpr uint8_t kRcodeNoError = 0;
inline constexpr uint8_t kRcodeFormErr = 1;
inline constexpr uint8_t kRcodeServFail = 2;
inline constexpr uint8_t kRcodeNxDomain = 3;
inline constexpr uint8_t kRcodeNotImp = 4;
inline constexpr uint8_t kRcodeRefused = 5;
inline constexpr uint16_t kRcodeBadVers = 16;  // extended: upper 8 bits go into the OPT TTL

inline constexpr size_t kMaxUdpPayload = 1232;  // what the lab advertises and sends at most

// One parsed query (RFC 1035 §4.1, RFC 6891 for EDNS0).
struct Query {
  uint16_t id = 0;
  uint16_t flags = 0;  // the query's header flags (RD, opcode, ...)
  std::string qname;   // lower case, no trailing dot ("" = the root)
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  size_t question_end = 0;  // offset just past the question: bytes [12, end) are echoed
  bool edns = false;
  uint16_t edns_udp_size = 512;
  uint8_t edns_version = 0;
  bool edns_do = false;
};

enum class ParseStatus {
  kOk,
  kFormErr,   // header readable, the rest is not: answer FORMERR
  kNotQuery,  // a response, or too short for a header: drop silently
};

// Parses a query message. Never reads outside `msg`; compression pointers in the question are
// followed with a hop limit.
ParseStatus ParseQuery(std::span<const uint8_t> msg, Query* q);

// Appends `name` ("a.b.c", no trailing dot; "" = root) in uncompressed wire form. Labels longer
// than 63 octets are truncated (the lab's names never have them).
void AppendName(std::string& out, std::string_view name);
void AppendU16(std::string& out, uint16_t v);
void AppendU32(std::string& out, uint32_t v);

// Lower-cases ASCII letters in place.
void AsciiLower(std::string& s);

}  // namespace mxcensus::lab::dns
