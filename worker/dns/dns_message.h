#pragma once

// Parsing of raw DNS responses (RFC 1035 wire format) for the record types mxcensus needs: MX, A,
// AAAA, TXT, TLSA (c-ares 1.18 has no TLSA parser), with CNAME chains followed from the query
// name. Pure functions over a byte buffer: no c-ares channel, no I/O. Every read is bounds-checked;
// a malformed message yields an error, never a crash (tests/unit/dns/dns_message_test.cc).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/domain_result.h"

namespace mxcensus::dns {

inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeCname = 5;
inline constexpr uint16_t kTypeMx = 15;
inline constexpr uint16_t kTypeTxt = 16;
inline constexpr uint16_t kTypeAaaa = 28;
inline constexpr uint16_t kTypeTlsa = 52;
inline constexpr uint16_t kClassIn = 1;

// The fixed header fields we use.
struct DnsHeader {
  uint16_t id = 0;
  bool truncated = false;
  bool authenticated_data = false;  // the AD bit (RFC 4035 §3.2.3); c-ares does not validate
  uint8_t rcode = 0;
  uint16_t qdcount = 0;
  uint16_t ancount = 0;
};

// One resource record of the answer section; `rdata` points into the message buffer.
struct ResourceRecord {
  std::string owner;  // lower-case, no trailing dot
  uint16_t type = 0;
  uint16_t rr_class = 0;
  uint32_t ttl = 0;
  size_t rdata_offset = 0;  // offset of the RDATA in the message (for compressed names)
  uint16_t rdlength = 0;
};

// A response split into header and answer-section records.
struct ParsedMessage {
  DnsHeader header;
  std::string question;  // the first question's name, lower-case
  std::vector<ResourceRecord> answers;
};

absl::StatusOr<ParsedMessage> ParseMessage(std::span<const uint8_t> msg);

// Follows the CNAME chain that starts at `qname` through the answers (bounded to 16 links,
// loops stop the chain). Returns the final owner name; equal to `qname` when there is no CNAME.
std::string FollowCnames(std::span<const uint8_t> msg, const ParsedMessage& pm,
                         const std::string& qname);

// What one query type yields. All lists are canonical (sorted, duplicates removed) and taken
// only from records owned by the end of the CNAME chain.
struct AddressAnswer {
  std::vector<std::string> addresses;  // text form, sorted as strings
  std::optional<std::string> cname;    // the end of the chain when the name is an alias
};
absl::StatusOr<AddressAnswer> ExtractAddresses(std::span<const uint8_t> msg,
                                               const std::string& qname, uint16_t type);

struct MxRecord {
  uint16_t preference = 0;
  std::string exchange;  // lower-case, no trailing dot; "" for the root (null MX, RFC 7505)
  bool operator==(const MxRecord&) const = default;
};
// Sorted by (preference, exchange), exact duplicates removed.
absl::StatusOr<std::vector<MxRecord>> ExtractMx(std::span<const uint8_t> msg,
                                                const std::string& qname);

// Each TXT record with its character-strings concatenated without separator (RFC 7208 §3.3),
// in answer order.
absl::StatusOr<std::vector<std::string>> ExtractTxt(std::span<const uint8_t> msg,
                                                    const std::string& qname);

// TLSA records (RFC 6698), sorted by (usage, selector, matching type, data).
absl::StatusOr<std::vector<TlsaRecord>> ExtractTlsa(std::span<const uint8_t> msg,
                                                    const std::string& qname);

// Reads a possibly compressed domain name at `*offset`, advancing it past the name. Lower-case,
// no trailing dot; the root is "". Bounded: 255 octets, 128 compression jumps.
absl::StatusOr<std::string> ReadName(std::span<const uint8_t> msg, size_t* offset);

}  // namespace mxcensus::dns
