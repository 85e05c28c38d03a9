#include "worker/dns/dns_message.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "common/smtp/reply_parser.h"

namespace mxcensus::dns {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr int kMaxJumps = 128;
constexpr int kMaxCnameLinks = 16;

absl::Status Malformed(const char* what) {
  return absl::DataLossError(std::string("malformed DNS message: ") + what);
}

uint16_t Read16(std::span<const uint8_t> msg, size_t at) {
  return static_cast<uint16_t>((msg[at] << 8) | msg[at + 1]);
}

uint32_t Read32(std::span<const uint8_t> msg, size_t at) {
  return (uint32_t{msg[at]} << 24) | (uint32_t{msg[at + 1]} << 16) | (uint32_t{msg[at + 2]} << 8) |
         uint32_t{msg[at + 3]};
}

char LowerByte(uint8_t c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); }

// Appends one label in presentation form: bytes outside LDH and '_' are escaped as \DDD so that
// a hostile label can never inject a '.' or control bytes into a name.
void AppendLabel(std::string* out, std::span<const uint8_t> label) {
  for (uint8_t c : label) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '*';
    if (plain) {
      out->push_back(LowerByte(c));
    } else {
      char buf[5];
      snprintf(buf, sizeof buf, "\\%03u", c);
      out->append(buf);
    }
  }
}

// Records of `type` owned by the end of the CNAME chain from `qname`.
template <typename Fn>
absl::Status ForEachAtChainEnd(std::span<const uint8_t> msg, const std::string& qname,
                               uint16_t type, std::string* chain_end, Fn fn) {
  auto pm = ParseMessage(msg);
  if (!pm.ok()) return pm.status();
  std::string target = FollowCnames(msg, *pm, qname);
  for (const auto& rr : pm->answers) {
    if (rr.type != type || rr.rr_class != kClassIn || rr.owner != target) continue;
    if (auto st = fn(rr); !st.ok()) return st;
  }
  if (chain_end) *chain_end = std::move(target);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadName(std::span<const uint8_t> msg, size_t* offset) {
  std::string name;
  size_t pos = *offset;
  size_t end_after = 0;  // where the caller continues: after the first pointer or the root
  bool jumped = false;
  int jumps = 0;
  size_t wire_len = 0;
  for (;;) {
    if (pos >= msg.size()) return Malformed("name runs past the end");
    uint8_t len = msg[pos];
    if ((len & 0xC0) == 0xC0) {
      if (pos + 1 >= msg.size()) return Malformed("truncated compression pointer");
      if (++jumps > kMaxJumps) return Malformed("compression loop");
      size_t target = ((len & 0x3F) << 8) | msg[pos + 1];
      if (!jumped) end_after = pos + 2;
      jumped = true;
      if (target >= msg.size()) return Malformed("compression pointer out of range");
      pos = target;
      continue;
    }
    if ((len & 0xC0) != 0) return Malformed("unknown label type");
    if (len == 0) {
      if (!jumped) end_after = pos + 1;
      break;
    }
    if (pos + 1 + len > msg.size()) return Malformed("label runs past the end");
    wire_len += len + 1;
    if (wire_len > 255) return Malformed("name longer than 255 octets");
    if (!name.empty()) name.push_back('.');
    AppendLabel(&name, msg.subspan(pos + 1, len));
    pos += 1 + len;
  }
  *offset = end_after;
  return name;
}

absl::StatusOr<ParsedMessage> ParseMessage(std::span<const uint8_t> msg) {
  if (msg.size() < kHeaderSize) return Malformed("shorter than a header");
  ParsedMessage pm;
  pm.header.id = Read16(msg, 0);
  pm.header.truncated = (msg[2] & 0x02) != 0;
  pm.header.authenticated_data = (msg[3] & 0x20) != 0;
  pm.header.rcode = msg[3] & 0x0F;
  pm.header.qdcount = Read16(msg, 4);
  pm.header.ancount = Read16(msg, 6);
  size_t pos = kHeaderSize;
  for (int i = 0; i < pm.header.qdcount; ++i) {
    auto name = ReadName(msg, &pos);
    if (!name.ok()) return name.status();
    if (pos + 4 > msg.size()) return Malformed("truncated question");
    pos += 4;
    if (i == 0) pm.question = std::move(*name);
  }
  pm.answers.reserve(std::min<size_t>(pm.header.ancount, 64));
  for (int i = 0; i < pm.header.ancount; ++i) {
    ResourceRecord rr;
    auto owner = ReadName(msg, &pos);
    if (!owner.ok()) return owner.status();
    rr.owner = std::move(*owner);
    if (pos + 10 > msg.size()) return Malformed("truncated resource record");
    rr.type = Read16(msg, pos);
    rr.rr_class = Read16(msg, pos + 2);
    rr.ttl = Read32(msg, pos + 4);
    rr.rdlength = Read16(msg, pos + 8);
    rr.rdata_offset = pos + 10;
    if (rr.rdata_offset + rr.rdlength > msg.size()) return Malformed("RDATA runs past the end");
    pos = rr.rdata_offset + rr.rdlength;
    pm.answers.push_back(std::move(rr));
  }
  return pm;
}

std::string FollowCnames(std::span<const uint8_t> msg, const ParsedMessage& pm,
                         const std::string& qname) {
  std::string current = qname;
  for (int link = 0; link < kMaxCnameLinks; ++link) {
    const ResourceRecord* next = nullptr;
    for (const auto& rr : pm.answers) {
      if (rr.type == kTypeCname && rr.rr_class == kClassIn && rr.owner == current) {
        next = &rr;
        break;
      }
    }
    if (!next) break;
    size_t at = next->rdata_offset;
    auto target = ReadName(msg, &at);
    if (!target.ok() || *target == current || at > next->rdata_offset + next->rdlength) break;
    current = std::move(*target);
  }
  return current;
}

absl::StatusOr<AddressAnswer> ExtractAddresses(std::span<const uint8_t> msg,
                                               const std::string& qname, uint16_t type) {
  AddressAnswer out;
  const size_t want = type == kTypeA ? 4 : 16;
  std::string end;
  auto st = ForEachAtChainEnd(msg, qname, type, &end, [&](const ResourceRecord& rr) {
    if (rr.rdlength != want) return Malformed("address of the wrong length");
    char text[INET6_ADDRSTRLEN];
    inet_ntop(type == kTypeA ? AF_INET : AF_INET6, msg.data() + rr.rdata_offset, text, sizeof text);
    out.addresses.emplace_back(text);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  std::sort(out.addresses.begin(), out.addresses.end());
  out.addresses.erase(std::unique(out.addresses.begin(), out.addresses.end()), out.addresses.end());
  if (end != qname) out.cname = std::move(end);
  return out;
}

absl::StatusOr<std::vector<MxRecord>> ExtractMx(std::span<const uint8_t> msg,
                                                const std::string& qname) {
  std::vector<MxRecord> out;
  auto st = ForEachAtChainEnd(msg, qname, kTypeMx, nullptr, [&](const ResourceRecord& rr) {
    if (rr.rdlength < 3) return Malformed("short MX record");
    size_t at = rr.rdata_offset + 2;
    auto exchange = ReadName(msg, &at);
    if (!exchange.ok()) return exchange.status();
    if (at > rr.rdata_offset + rr.rdlength) return Malformed("MX name runs past its RDATA");
    out.push_back(MxRecord{Read16(msg, rr.rdata_offset), std::move(*exchange)});
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  std::sort(out.begin(), out.end(), [](const MxRecord& a, const MxRecord& b) {
    return std::tie(a.preference, a.exchange) < std::tie(b.preference, b.exchange);
  });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

absl::StatusOr<std::vector<std::string>> ExtractTxt(std::span<const uint8_t> msg,
                                                    const std::string& qname) {
  std::vector<std::string> out;
  auto st = ForEachAtChainEnd(msg, qname, kTypeTxt, nullptr, [&](const ResourceRecord& rr) {
    std::string joined;
    size_t at = rr.rdata_offset;
    const size_t end = rr.rdata_offset + rr.rdlength;
    while (at < end) {
      size_t len = msg[at];
      if (at + 1 + len > end) return Malformed("TXT string runs past its RDATA");
      joined.append(reinterpret_cast<const char*>(msg.data() + at + 1), len);
      at += 1 + len;
    }
    // A TXT record is bytes; policy records are ASCII (RFC 7208 §3, RFC 7489 §6.3, RFC 8461
    // §3.1, RFC 8460 §3), but a zone can publish anything. Raw, a non-UTF-8 byte broke the
    // worker's stream (protobuf strings must be UTF-8: the coordinator could not parse the
    // batch, and the worker sent it again after every reconnect), and a NUL cannot go into a
    // text column. Control bytes become '?', invalid UTF-8 U+FFFD: the record stays
    // recognisable and visibly broken.
    out.push_back(smtp::SanitizeText(joined));
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<std::vector<TlsaRecord>> ExtractTlsa(std::span<const uint8_t> msg,
                                                    const std::string& qname) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::vector<TlsaRecord> out;
  auto st = ForEachAtChainEnd(msg, qname, kTypeTlsa, nullptr, [&](const ResourceRecord& rr) {
    if (rr.rdlength < 3) return Malformed("short TLSA record");
    TlsaRecord t;
    t.usage = msg[rr.rdata_offset];
    t.selector = msg[rr.rdata_offset + 1];
    t.matching_type = msg[rr.rdata_offset + 2];
    for (size_t i = 3; i < rr.rdlength; ++i) {
      uint8_t b = msg[rr.rdata_offset + i];
      t.data_hex.push_back(kHex[b >> 4]);
      t.data_hex.push_back(kHex[b & 0xF]);
    }
    out.push_back(std::move(t));
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  auto key = [](const TlsaRecord& t) {
    return std::tie(t.usage, t.selector, t.matching_type, t.data_hex);
  };
  std::sort(out.begin(), out.end(),
            [&](const TlsaRecord& a, const TlsaRecord& b) { return key(a) < key(b); });
  out.erase(std::unique(out.begin(), out.end(),
                        [&](const TlsaRecord& a, const TlsaRecord& b) { return key(a) == key(b); }),
            out.end());
  return out;
}

}  // namespace mxcensus::dns
