#pragma once

// Builds DNS response messages byte by byte for the parser and assembly tests (no compression
// except where asked for, names given in presentation form; "" is the root).

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace mxcensus::dns::testing_util {

class MessageBuilder {
 public:
  MessageBuilder(const std::string& qname, uint16_t qtype) {
    bytes_ = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0};
    Name(qname);
    U16(qtype);
    U16(1);
  }
  MessageBuilder& SetRcode(uint8_t rcode) {
    bytes_[3] = static_cast<uint8_t>((bytes_[3] & 0xF0) | rcode);
    return *this;
  }
  MessageBuilder& SetAd(bool ad) {
    bytes_[3] = static_cast<uint8_t>(ad ? bytes_[3] | 0x20 : bytes_[3] & ~0x20);
    return *this;
  }
  MessageBuilder& Mx(const std::string& owner, uint16_t pref, const std::string& exchange) {
    std::vector<uint8_t> rd = {static_cast<uint8_t>(pref >> 8), static_cast<uint8_t>(pref)};
    AppendName(&rd, exchange);
    return Rr(owner, 15, rd);
  }
  // An MX whose exchange is "mail." followed by a pointer to the question name (offset 12).
  MessageBuilder& MxCompressed(const std::string& owner, uint16_t pref) {
    std::vector<uint8_t> rd = {static_cast<uint8_t>(pref >> 8),
                               static_cast<uint8_t>(pref),
                               4,
                               'm',
                               'a',
                               'i',
                               'l',
                               0xC0,
                               12};
    return Rr(owner, 15, rd);
  }
  MessageBuilder& Cname(const std::string& owner, const std::string& target) {
    std::vector<uint8_t> rd;
    AppendName(&rd, target);
    return Rr(owner, 5, rd);
  }
  MessageBuilder& A(const std::string& owner, std::vector<uint8_t> addr) {
    return Rr(owner, 1, addr);
  }
  MessageBuilder& Aaaa(const std::string& owner, std::vector<uint8_t> addr) {
    return Rr(owner, 28, addr);
  }
  MessageBuilder& Txt(const std::string& owner, std::initializer_list<std::string> strings) {
    std::vector<uint8_t> rd;
    for (const auto& s : strings) {
      rd.push_back(static_cast<uint8_t>(s.size()));
      rd.insert(rd.end(), s.begin(), s.end());
    }
    return Rr(owner, 16, rd);
  }
  MessageBuilder& Tlsa(const std::string& owner, uint8_t usage, uint8_t selector, uint8_t mtype,
                       std::vector<uint8_t> data) {
    std::vector<uint8_t> rd = {usage, selector, mtype};
    rd.insert(rd.end(), data.begin(), data.end());
    return Rr(owner, 52, rd);
  }
  const std::vector<uint8_t>& Bytes() const { return bytes_; }

 private:
  static void AppendName(std::vector<uint8_t>* out, const std::string& name) {
    size_t start = 0;
    while (start < name.size()) {
      size_t dot = name.find('.', start);
      if (dot == std::string::npos) dot = name.size();
      out->push_back(static_cast<uint8_t>(dot - start));
      out->insert(out->end(), name.begin() + static_cast<long>(start),
                  name.begin() + static_cast<long>(dot));
      start = dot + 1;
    }
    out->push_back(0);
  }
  void Name(const std::string& name) { AppendName(&bytes_, name); }
  void U16(uint16_t v) {
    bytes_.push_back(static_cast<uint8_t>(v >> 8));
    bytes_.push_back(static_cast<uint8_t>(v));
  }
  MessageBuilder& Rr(const std::string& owner, uint16_t type, const std::vector<uint8_t>& rd) {
    Name(owner);
    U16(type);
    U16(1);
    U16(0);
    U16(300);
    U16(static_cast<uint16_t>(rd.size()));
    bytes_.insert(bytes_.end(), rd.begin(), rd.end());
    uint16_t an = static_cast<uint16_t>((bytes_[6] << 8 | bytes_[7]) + 1);
    bytes_[6] = static_cast<uint8_t>(an >> 8);
    bytes_[7] = static_cast<uint8_t>(an);
    return *this;
  }
  std::vector<uint8_t> bytes_;
};

}  // namespace mxcensus::dns::testing_util
