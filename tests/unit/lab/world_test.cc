#include "lab/world.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

namespace mxcensus::lab {
namespace {

World Build(uint32_t hosts, uint64_t seed) {
  WorldOptions o;
  o.hosts = hosts;
  o.seed = seed;
  auto w = BuildWorld(o);
  EXPECT_TRUE(w.ok()) << w.status();
  return *std::move(w);
}

std::string Fingerprint(const World& w) {
  std::string s;
  for (const Host& h : w.hosts) {
    s += h.name + "|" + std::to_string(h.ip) + "|" + std::string(Info(h.profile).name) + "|" +
         h.cert_name + "|" + std::to_string(h.aaaa) + std::to_string(static_cast<int>(h.tlsa));
    for (const auto& a : h.aliases) s += "|" + a;
    s += "\n";
  }
  for (const Domain& d : w.domains) {
    s += d.name + "|" + std::string(DomainKindName(d.kind));
    for (const MxRef& m : d.mx) s += "|" + std::to_string(m.preference) + " " + m.name;
    for (const auto& t : d.apex_txt) s += "|" + JoinTxt(t);
    if (d.dmarc) s += "|" + JoinTxt(*d.dmarc);
    s += "\n";
  }
  return s;
}

TEST(WorldTest, SameOptionsSameWorld) {
  EXPECT_EQ(Fingerprint(Build(500, 7)), Fingerprint(Build(500, 7)));
  EXPECT_NE(Fingerprint(Build(500, 7)), Fingerprint(Build(500, 8)));
}

TEST(WorldTest, SmallWorldHoldsEveryProfileAndCase) {
  World w = Build(kProfileCount, 3);
  std::set<Profile> profiles;
  for (const Host& h : w.hosts) profiles.insert(h.profile);
  // Every profile of the default mix (tls_stall has weight 0: only when a --mix names it).
  size_t weighted = 0;
  for (int p = 0; p < kProfileCount; ++p)
    weighted += Info(static_cast<Profile>(p)).default_weight > 0;
  EXPECT_EQ(weighted, static_cast<size_t>(kProfileCount - 1));
  EXPECT_EQ(profiles.size(), weighted);
  World w2 = Build(200, 3);
  std::set<DomainKind> kinds;
  for (const Domain& d : w2.domains) kinds.insert(d.kind);
  EXPECT_EQ(kinds.size(), static_cast<size_t>(kDomainKindCount));
  EXPECT_EQ(w2.domains.size(), 400u);
}

TEST(WorldTest, AddressesNamesAndReferences) {
  World w = Build(2000, 5);
  std::set<std::string> names;
  std::map<std::string, const Host*> by_name;
  for (size_t i = 0; i < w.hosts.size(); ++i) {
    const Host& h = w.hosts[i];
    EXPECT_EQ(h.ip, w.options.base + i + 1);
    EXPECT_TRUE(names.insert(h.name).second) << "duplicate " << h.name;
    EXPECT_TRUE(h.name.ends_with(".lab.test")) << h.name;
    by_name[h.name] = &h;
  }
  for (const Host& h : w.hosts) {
    if (h.profile == Profile::kWrongName) {
      EXPECT_NE(h.cert_name, h.name);
      EXPECT_TRUE(by_name.count(h.cert_name)) << "another existing name: " << h.cert_name;
    } else {
      EXPECT_TRUE(h.cert_name.empty());
    }
  }
  for (const Domain& d : w.domains) {
    for (const MxRef& m : d.mx) {
      if (m.host < 0) continue;
      const Host& h = w.hosts[m.host];
      if (m.via_cname) {
        EXPECT_EQ(h.profile, Profile::kModernTls13);
        EXPECT_NE(std::find(h.aliases.begin(), h.aliases.end(), m.name), h.aliases.end());
        EXPECT_EQ(h.tlsa, TlsaKind::kNone);
      } else {
        EXPECT_EQ(m.name, h.name);
      }
    }
    if (d.kind == DomainKind::kImplicitMx) {
      ASSERT_GE(d.implicit_host, 0);
      EXPECT_EQ(w.hosts[d.implicit_host].name, d.name);
    }
    if (d.kind == DomainKind::kNullMx) {
      ASSERT_EQ(d.mx.size(), 1u);
      EXPECT_EQ(d.mx[0].name, "");
    }
  }
}

TEST(WorldTest, TwentyThousandHostsShareOneProviderWidely) {
  World w = Build(20000, 1);
  EXPECT_EQ(w.domains.size(), 40000u);
  int shared = 0;
  for (const Domain& d : w.domains) shared += d.kind == DomainKind::kSharedProvider;
  EXPECT_GE(shared, 1000);
}

TEST(WorldTest, RejectsWorldsOutsideLoopback) {
  WorldOptions o;
  o.hosts = 0;
  EXPECT_FALSE(BuildWorld(o).ok());
  o.hosts = 10;
  o.base = 0x0a000000;  // 10.0.0.0
  EXPECT_FALSE(BuildWorld(o).ok());
  o.base = 0x7ffffff0;  // 127.255.255.240: runs past 127/8
  o.hosts = 100;
  EXPECT_FALSE(BuildWorld(o).ok());
  o.base = 0x7f140000;
  o.mix = ProfileMix{};
  EXPECT_FALSE(BuildWorld(o).ok());
}

TEST(WorldTest, Ipv4Text) {
  EXPECT_EQ(Ipv4String(0x7f140005), "127.20.0.5");
  EXPECT_EQ(ParseIpv4("127.20.0.5").value(), 0x7f140005u);
  EXPECT_FALSE(ParseIpv4("127.20.0").has_value());
  EXPECT_EQ(JoinTxt({"v=spf1 ", "-all"}), "v=spf1 -all");
}

}  // namespace
}  // namespace mxcensus::lab
