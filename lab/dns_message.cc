#include "lab/dns_message.h"

namespace mxcensus::lab::dns {
namespace {

uint16_t U16(std::span<const uint8_t> m, size_t at) {
  return static_cast<uint16_t>((m[at] << 8) | m[at + 1]);
}

// Reads a (possibly compressed) name starting at `*pos`; advances `*pos` past it in the message
// (not past a pointer's target). Returns false when malformed.
bool ReadName(std::span<const uint8_t> m, size_t* pos, std::string* name) {
  name->clear();
  size_t at = *pos;
  bool jumped = false;
  int hops = 0;
  size_t total = 0;
  while (true) {
    if (at >= m.size()) return false;
    uint8_t len = m[at];
    if ((len & 0xc0) == 0xc0) {
      if (at + 1 >= m.size() || ++hops > 16) return false;
      size_t target = static_cast<size_t>((len & 0x3f) << 8) | m[at + 1];
      if (!jumped) *pos = at + 2;
      jumped = true;
      at = target;
      continue;
    }
    if ((len & 0xc0) != 0) return false;  // the obsolete 01/10 label types
    if (len == 0) {
      if (!jumped) *pos = at + 1;
      return true;
    }
    if (at + 1 + len > m.size()) return false;
    total += len + 1;
    if (total > 255) return false;
    if (!name->empty()) name->push_back('.');
    name->append(reinterpret_cast<const char*>(m.data() + at + 1), len);
    at += 1 + len;
  }
}

}  // namespace

void AsciiLower(std::string& s) {
  for (char& ch : s) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
}

ParseStatus ParseQuery(std::span<const uint8_t> m, Query* q) {
  if (m.size() < 12) return ParseStatus::kNotQuery;
  q->id = U16(m, 0);
  q->flags = U16(m, 2);
  if ((q->flags & 0x8000) != 0) return ParseStatus::kNotQuery;  // QR: a response
  const uint16_t qdcount = U16(m, 4), ancount = U16(m, 6), nscount = U16(m, 8),
                 arcount = U16(m, 10);
  if (qdcount != 1) return ParseStatus::kFormErr;
  size_t pos = 12;
  if (!ReadName(m, &pos, &q->qname) || pos + 4 > m.size()) return ParseStatus::kFormErr;
  AsciiLower(q->qname);
  q->qtype = U16(m, pos);
  q->qclass = U16(m, pos + 2);
  pos += 4;
  q->question_end = pos;
  q->edns = false;
  q->edns_udp_size = 512;
  q->edns_version = 0;
  q->edns_do = false;
  // Skip answer and authority records (queries normally have none), then look for OPT.
  const uint32_t skip = static_cast<uint32_t>(ancount) + nscount;
  std::string owner;
  for (uint32_t i = 0; i < skip + arcount; ++i) {
    if (!ReadName(m, &pos, &owner) || pos + 10 > m.size()) return ParseStatus::kFormErr;
    const uint16_t type = U16(m, pos), klass = U16(m, pos + 2);
    const uint8_t ext_rcode = m[pos + 4], version = m[pos + 5];
    const uint16_t ttl_low = U16(m, pos + 6), rdlen = U16(m, pos + 8);
    (void)ext_rcode;
    pos += 10;
    if (pos + rdlen > m.size()) return ParseStatus::kFormErr;
    pos += rdlen;
    if (i >= skip && type == kTypeOpt) {
      if (q->edns || !owner.empty()) return ParseStatus::kFormErr;  // RFC 6891 §6.1.1
      q->edns = true;
      q->edns_udp_size = klass < 512 ? 512 : klass;
      q->edns_version = version;
      q->edns_do = (ttl_low & 0x8000) != 0;
    }
  }
  return ParseStatus::kOk;
}

void AppendU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

void AppendU32(std::string& out, uint32_t v) {
  AppendU16(out, static_cast<uint16_t>(v >> 16));
  AppendU16(out, static_cast<uint16_t>(v & 0xffff));
}

void AppendName(std::string& out, std::string_view name) {
  while (!name.empty()) {
    size_t dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    if (label.size() > 63) label = label.substr(0, 63);
    out.push_back(static_cast<char>(label.size()));
    out.append(label);
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  out.push_back('\0');
}

}  // namespace mxcensus::lab::dns
