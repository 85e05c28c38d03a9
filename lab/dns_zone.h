#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "lab/pki.h"
#include "lab/world.h"

namespace mxcensus::lab {

// The authoritative data of lab.test, built from the world, and the answering logic:
// NXDOMAIN vs NODATA (empty non-terminals exist), SOA in negative answers, CNAME chasing
// inside the zone, SERVFAIL and silence for the names the world marks so, EDNS0 (OPT echoed,
// BADVERS for versions > 0) and truncation (TC) of UDP answers over the client's limit.
// Immutable after Build: safe to share.
class Zone {
 public:
  // `ns_ip` is the address the NS name ns.lab.test resolves to (the DNS listener).
  static std::unique_ptr<Zone> Build(const World& world, const Pki& pki, uint32_t ns_ip);

  enum class Action { kReply, kDrop };
  // Answers the query message `query`; over UDP (`tcp` false) the answer is truncated to what
  // the client can take. `*out` receives the response message (without a TCP length prefix).
  Action Answer(std::span<const uint8_t> query, bool tcp, std::string* out) const;

  size_t name_count() const { return nodes_.size(); }

 private:
  struct Rr {
    uint16_t type;
    std::string rdata;   // wire form, names uncompressed
    std::string target;  // CNAME only: the target name
  };
  struct Node {
    std::vector<Rr> rrs;
    bool servfail = false;
    bool timeout = false;
  };
  Zone() = default;
  Node& Ensure(const std::string& name);
  void Add(const std::string& name, uint16_t type, std::string rdata, std::string target = {});
  const Node* Find(const std::string& name) const;

  std::unordered_map<std::string, Node> nodes_;
  std::string soa_rdata_;
};

}  // namespace mxcensus::lab
