// The lab's DNS answers, decoded by an independent minimal resolver written here, must give
// exactly the truth of every domain of a world.
#include "lab/dns_zone.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result_json.h"
#include "lab/dns_message.h"
#include "lab/truth.h"

namespace mxcensus::lab {
namespace {

struct Rr {
  std::string owner;
  uint16_t type = 0;
  std::string rdata;   // raw
  std::string target;  // decoded name for CNAME/MX/NS
  uint16_t pref = 0;
};

struct Reply {
  bool dropped = false;
  uint16_t flags = 0;
  int rcode = 0;
  std::vector<Rr> answer, authority;
  bool opt = false;
};

// Decodes a (possibly compressed) name.
std::string Name(const std::string& m, size_t* pos) {
  std::string out;
  size_t at = *pos;
  bool jumped = false;
  for (int hops = 0; hops < 32; ++hops) {
    uint8_t len = static_cast<uint8_t>(m.at(at));
    if ((len & 0xc0) == 0xc0) {
      size_t target = ((len & 0x3f) << 8) | static_cast<uint8_t>(m.at(at + 1));
      if (!jumped) *pos = at + 2;
      jumped = true;
      at = target;
      continue;
    }
    if (len == 0) {
      if (!jumped) *pos = at + 1;
      return out;
    }
    if (!out.empty()) out += '.';
    out += m.substr(at + 1, len);
    at += 1 + len;
  }
  ADD_FAILURE() << "compression loop";
  return out;
}

uint16_t U16(const std::string& m, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(m.at(at)) << 8) |
                               static_cast<uint8_t>(m.at(at + 1)));
}

std::string Query(uint16_t id, const std::string& name, uint16_t type, bool edns) {
  std::string q;
  dns::AppendU16(q, id);
  dns::AppendU16(q, 0);  // RD off
  dns::AppendU16(q, 1);
  dns::AppendU16(q, 0);
  dns::AppendU16(q, 0);
  dns::AppendU16(q, edns ? 1 : 0);
  dns::AppendName(q, name);
  dns::AppendU16(q, type);
  dns::AppendU16(q, dns::kClassIn);
  if (edns) {
    q.push_back('\0');
    dns::AppendU16(q, dns::kTypeOpt);
    dns::AppendU16(q, 1232);
    dns::AppendU32(q, 0);
    dns::AppendU16(q, 0);
  }
  return q;
}

Reply Ask(const Zone& z, const std::string& name, uint16_t type, bool tcp = true,
          bool edns = false) {
  std::string q = Query(0x1234, name, type, edns), out;
  Reply r;
  auto act = z.Answer({reinterpret_cast<const uint8_t*>(q.data()), q.size()}, tcp, &out);
  if (act == Zone::Action::kDrop) {
    r.dropped = true;
    return r;
  }
  EXPECT_EQ(U16(out, 0), 0x1234);
  r.flags = U16(out, 2);
  r.rcode = r.flags & 0xf;
  size_t pos = 12;
  for (int i = 0; i < U16(out, 4); ++i) {
    Name(out, &pos);
    pos += 4;
  }
  auto read = [&](int n, std::vector<Rr>* dst) {
    for (int i = 0; i < n; ++i) {
      Rr rr;
      rr.owner = Name(out, &pos);
      rr.type = U16(out, pos);
      uint16_t len = U16(out, pos + 8);
      pos += 10;
      rr.rdata = out.substr(pos, len);
      size_t p = pos;
      if (rr.type == dns::kTypeCname || rr.type == dns::kTypeNs) rr.target = Name(out, &p);
      if (rr.type == dns::kTypeMx) {
        rr.pref = U16(out, p);
        p += 2;
        rr.target = Name(out, &p);
      }
      pos += len;
      if (dst != nullptr) {
        dst->push_back(rr);
      } else if (rr.type == dns::kTypeOpt) {
        r.opt = true;
      }
    }
  };
  read(U16(out, 6), &r.answer);
  read(U16(out, 8), &r.authority);
  read(U16(out, 10), nullptr);
  EXPECT_EQ(pos, out.size());
  return r;
}

std::string TxtJoined(const std::string& rdata) {
  std::string out;
  for (size_t i = 0; i < rdata.size();) {
    uint8_t len = static_cast<uint8_t>(rdata[i]);
    out += rdata.substr(i + 1, len);
    i += 1 + len;
  }
  return out;
}

std::optional<std::string> Policy(const Zone& z, const std::string& name, const std::string& pfx) {
  std::optional<std::string> found;
  for (const Rr& rr : Ask(z, name, dns::kTypeTxt).answer) {
    std::string t = TxtJoined(rr.rdata);
    if (t.rfind(pfx, 0) == 0) found = t;
  }
  return found;
}

// A small resolver following the truth contract (docs/lab.md "Domain lines").
DomainResult Resolve(const Zone& z, const std::string& domain) {
  DomainResult r;
  r.domain = domain;
  Reply mx = Ask(z, domain, dns::kTypeMx);
  if (mx.dropped) {
    r.status = DnsStatus::kTimeout;
    return r;
  }
  if (mx.rcode == dns::kRcodeNxDomain) {
    r.status = DnsStatus::kNxDomain;
    return r;
  }
  if (mx.rcode == dns::kRcodeServFail) {
    r.status = DnsStatus::kServFail;
    return r;
  }
  std::vector<std::pair<uint16_t, std::string>> names;
  for (const Rr& rr : mx.answer) {
    if (rr.type == dns::kTypeMx) names.emplace_back(rr.pref, rr.target);
  }
  if (names.size() == 1 && names[0].second.empty()) {
    r.status = DnsStatus::kNullMx;
    r.null_mx = true;
  } else {
    if (names.empty()) {
      names.emplace_back(0, domain);
      r.implicit_mx = true;
    }
    bool any = false;
    for (const auto& [pref, name] : names) {
      MxHost h;
      h.name = name;
      h.preference = pref;
      for (uint16_t type : {dns::kTypeA, dns::kTypeAaaa}) {
        for (const Rr& rr : Ask(z, name, type).answer) {
          if (rr.type == dns::kTypeCname) h.cname = rr.target;
          if (rr.type == dns::kTypeA) {
            h.ipv4.push_back(Ipv4String((static_cast<uint8_t>(rr.rdata[0]) << 24) |
                                        (static_cast<uint8_t>(rr.rdata[1]) << 16) |
                                        (static_cast<uint8_t>(rr.rdata[2]) << 8) |
                                        static_cast<uint8_t>(rr.rdata[3])));
          }
          if (rr.type == dns::kTypeAaaa) {
            EXPECT_EQ(rr.rdata, std::string(15, '\0') + '\x01');
            h.ipv6.push_back("::1");
          }
        }
      }
      if (h.ipv4.empty() && h.ipv6.empty()) {
        h.status = DnsStatus::kNoAddress;
        h.cname.reset();
      } else {
        any = true;
      }
      if (!h.cname) {
        for (const Rr& rr : Ask(z, "_25._tcp." + name, dns::kTypeTlsa).answer) {
          h.tlsa.push_back({static_cast<uint8_t>(rr.rdata[0]), static_cast<uint8_t>(rr.rdata[1]),
                            static_cast<uint8_t>(rr.rdata[2]), HexEncode(rr.rdata.substr(3))});
        }
      }
      std::sort(h.tlsa.begin(), h.tlsa.end(), [](const TlsaRecord& a, const TlsaRecord& b) {
        return std::tie(a.usage, a.selector, a.matching_type, a.data_hex) <
               std::tie(b.usage, b.selector, b.matching_type, b.data_hex);
      });
      r.mx.push_back(std::move(h));
    }
    if (!any) {
      r.mx.clear();
      r.status = r.implicit_mx ? DnsStatus::kNoMx : DnsStatus::kNoAddress;
      r.implicit_mx = false;
      return r;
    }
    std::sort(r.mx.begin(), r.mx.end(), [](const MxHost& a, const MxHost& b) {
      return a.preference != b.preference ? a.preference < b.preference : a.name < b.name;
    });
  }
  r.policy.spf = Policy(z, domain, "v=spf1");
  r.policy.dmarc = Policy(z, "_dmarc." + domain, "v=DMARC1");
  if (r.policy.dmarc) {
    size_t p = r.policy.dmarc->find("p=");
    size_t end = r.policy.dmarc->find(';', p);
    r.policy.dmarc_policy = r.policy.dmarc->substr(p + 2, end - p - 2);
  }
  r.policy.mta_sts = Policy(z, "_mta-sts." + domain, "v=STSv1");
  r.policy.tls_rpt = Policy(z, "_smtp._tls." + domain, "v=TLSRPTv1");
  return r;
}

class ZoneTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    WorldOptions o;
    o.hosts = 300;
    o.seed = 42;
    auto w = BuildWorld(o);
    ASSERT_TRUE(w.ok());
    world_ = new World(*std::move(w));
    auto pki = Pki::LoadOrCreate("", *world_, time(nullptr));  // in memory: no disk
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = pki->release();
    zone_ = Zone::Build(*world_, *pki_, 0x7f000001).release();
  }
  static void TearDownTestSuite() {
    delete zone_;
    delete pki_;
    delete world_;
  }
  static World* world_;
  static Pki* pki_;
  static Zone* zone_;
};
World* ZoneTest::world_ = nullptr;
Pki* ZoneTest::pki_ = nullptr;
Zone* ZoneTest::zone_ = nullptr;

TEST_F(ZoneTest, EveryDomainResolvesToItsTruth) {
  int ok = 0;
  for (size_t j = 0; j < world_->domains.size(); ++j) {
    DomainResult want = DomainTruth(*world_, *pki_, j);
    DomainResult got = Resolve(*zone_, world_->domains[j].name);
    EXPECT_EQ(DomainResultToJson(got).dump(), DomainResultToJson(want).dump());
    ok += DomainResultToJson(got) == DomainResultToJson(want);
  }
  EXPECT_EQ(ok, static_cast<int>(world_->domains.size()));
}

TEST_F(ZoneTest, NegativeAnswersDistinguishNxDomainFromNoData) {
  const Host& h = world_->hosts[0];  // mx1.p1.lab.test
  Reply nodata = Ask(*zone_, h.name, dns::kTypeMx);
  EXPECT_EQ(nodata.rcode, dns::kRcodeNoError);
  EXPECT_TRUE(nodata.answer.empty());
  ASSERT_EQ(nodata.authority.size(), 1u);
  EXPECT_EQ(nodata.authority[0].type, dns::kTypeSoa);
  EXPECT_EQ(nodata.authority[0].owner, "lab.test");
  Reply ent = Ask(*zone_, "p1.lab.test", dns::kTypeA);  // empty non-terminal
  EXPECT_EQ(ent.rcode, dns::kRcodeNoError);
  EXPECT_TRUE(ent.answer.empty());
  Reply nx = Ask(*zone_, "nope.p1.lab.test", dns::kTypeA);
  EXPECT_EQ(nx.rcode, dns::kRcodeNxDomain);
  ASSERT_EQ(nx.authority.size(), 1u);
  EXPECT_TRUE((nx.flags & 0x0400) != 0) << "AA";
  Reply refused = Ask(*zone_, "example.com", dns::kTypeA);
  EXPECT_EQ(refused.rcode, dns::kRcodeRefused);
  EXPECT_FALSE((refused.flags & 0x0400) != 0);
}

TEST_F(ZoneTest, ServFailAndSilenceCoverTheSubtree) {
  for (const Domain& d : world_->domains) {
    if (d.kind == DomainKind::kServFail) {
      EXPECT_EQ(Ask(*zone_, "x.y." + d.name, dns::kTypeA).rcode, dns::kRcodeServFail);
    }
    if (d.kind == DomainKind::kTimeout) {
      EXPECT_TRUE(Ask(*zone_, "_dmarc." + d.name, dns::kTypeTxt).dropped);
    }
  }
}

TEST_F(ZoneTest, TruncatesUdpAnswersOverTheClientLimit) {
  const Domain* big = nullptr;
  for (const Domain& d : world_->domains) {
    if (d.kind == DomainKind::kBigTxt) big = &d;
  }
  ASSERT_NE(big, nullptr);
  Reply udp = Ask(*zone_, big->name, dns::kTypeTxt, /*tcp=*/false);
  EXPECT_TRUE((udp.flags & 0x0200) != 0) << "TC";
  EXPECT_TRUE(udp.answer.empty());
  Reply edns = Ask(*zone_, big->name, dns::kTypeTxt, false, /*edns=*/true);
  EXPECT_FALSE((edns.flags & 0x0200) != 0);
  EXPECT_EQ(edns.answer.size(), big->apex_txt.size());
  EXPECT_TRUE(edns.opt);
  Reply tcp = Ask(*zone_, big->name, dns::kTypeTxt, true);
  EXPECT_EQ(tcp.answer.size(), big->apex_txt.size());
  EXPECT_FALSE(tcp.opt);
}

TEST_F(ZoneTest, ChasesCnamesAndAnswersCnameQueries) {
  for (const Domain& d : world_->domains) {
    if (d.kind != DomainKind::kMxCname) continue;
    const std::string& target = world_->hosts[d.mx[0].host].name;
    Reply a = Ask(*zone_, d.mx[0].name, dns::kTypeA);
    ASSERT_EQ(a.answer.size(), 2u);
    EXPECT_EQ(a.answer[0].type, dns::kTypeCname);
    EXPECT_EQ(a.answer[0].target, target);
    EXPECT_EQ(a.answer[1].owner, target);
    Reply c = Ask(*zone_, d.mx[0].name, dns::kTypeCname);
    ASSERT_EQ(c.answer.size(), 1u);
    EXPECT_EQ(c.answer[0].target, target);
    return;
  }
  FAIL() << "no MX -> CNAME domain";
}

std::string Raw(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

TEST_F(ZoneTest, MalformedAndUnusualQueries) {
  std::string out;
  auto answer = [&](const std::string& q) {
    return zone_->Answer({reinterpret_cast<const uint8_t*>(q.data()), q.size()}, false, &out);
  };
  EXPECT_EQ(answer(Raw({1, 2, 3})), Zone::Action::kDrop);  // runt
  std::string response = Query(7, "d1.lab.test", dns::kTypeMx, false);
  response[2] = static_cast<char>(0x80);  // QR set: a response
  EXPECT_EQ(answer(response), Zone::Action::kDrop);
  // A compression loop in the question: FORMERR, no crash.
  std::string loop = Raw({0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1});
  ASSERT_EQ(answer(loop), Zone::Action::kReply);
  EXPECT_EQ(out[3] & 0xf, dns::kRcodeFormErr);
  // Truncated question.
  std::string cut = Query(7, "d1.lab.test", dns::kTypeMx, false);
  cut.resize(cut.size() - 3);
  ASSERT_EQ(answer(cut), Zone::Action::kReply);
  EXPECT_EQ(out[3] & 0xf, dns::kRcodeFormErr);
  // EDNS version 1: BADVERS (extended rcode 1 in the OPT TTL).
  std::string v1 = Query(7, "d1.lab.test", dns::kTypeMx, true);
  v1[v1.size() - 5] = 1;  // version byte of the OPT TTL
  ASSERT_EQ(answer(v1), Zone::Action::kReply);
  EXPECT_EQ(out[3] & 0xf, 0);
  EXPECT_EQ(static_cast<uint8_t>(out[out.size() - 6]), 1);  // extended rcode: 16 >> 4
  // NOTIFY opcode: NOTIMP.
  std::string notify = Query(7, "d1.lab.test", dns::kTypeSoa, false);
  notify[2] = static_cast<char>(4 << 3);
  ASSERT_EQ(answer(notify), Zone::Action::kReply);
  EXPECT_EQ(out[3] & 0xf, dns::kRcodeNotImp);
  // Upper-case names are answered, the question echoed as sent.
  Reply upper = Ask(*zone_, "D1.LAB.TEST", dns::kTypeMx);
  EXPECT_EQ(upper.rcode, 0);
  EXPECT_FALSE(upper.answer.empty());
}

TEST(DnsMessageTest, ParsesQuestionAndEdns) {
  std::string q = Query(0xbeef, "MX1.Lab.Test", dns::kTypeAaaa, true);
  dns::Query parsed;
  ASSERT_EQ(dns::ParseQuery({reinterpret_cast<const uint8_t*>(q.data()), q.size()}, &parsed),
            dns::ParseStatus::kOk);
  EXPECT_EQ(parsed.id, 0xbeef);
  EXPECT_EQ(parsed.qname, "mx1.lab.test");
  EXPECT_EQ(parsed.qtype, dns::kTypeAaaa);
  EXPECT_TRUE(parsed.edns);
  EXPECT_EQ(parsed.edns_udp_size, 1232);
  std::string name;
  dns::AppendName(name, "a.bc");
  EXPECT_EQ(name, Raw({1, 'a', 2, 'b', 'c', 0}));
  name.clear();
  dns::AppendName(name, "");
  EXPECT_EQ(name, Raw({0}));
}

}  // namespace
}  // namespace mxcensus::lab
