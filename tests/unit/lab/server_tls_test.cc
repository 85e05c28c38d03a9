// Every TLS profile's server configuration, handshaking with an OpenSSL client over a socket
// pair: the version, group / DH size, chain and leaf are what the truth promises.
#include "lab/server_tls.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <map>
#include <string>

#include "lab/truth.h"

namespace mxcensus::lab {
namespace {

int Permissive(const SSL*, const SSL_CTX*, int, int, int, void*, void*) { return 1; }

struct Handshake {
  bool ok = false;
  std::string version;
  std::string group;
  int dh_bits = 0;
  std::string leaf_sha256;
  int chain_len = 0;
};

Handshake RunHandshake(const ServerTls& tls, const Host& host) {
  Handshake r;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0) return r;
  SslPtr server(tls.NewSession(host, fds[0]));
  SslCtxPtr cctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_security_level(cctx.get(), 0);
  SSL_CTX_set_security_callback(cctx.get(), Permissive);
  SSL_CTX_set_min_proto_version(cctx.get(), TLS1_VERSION);
  SSL_CTX_set_cipher_list(cctx.get(), "ALL:@SECLEVEL=0");
  SslPtr client(SSL_new(cctx.get()));
  SSL_set_fd(client.get(), fds[1]);
  SSL_set_tlsext_host_name(client.get(), host.name.c_str());
  SSL_set_connect_state(client.get());
  bool cdone = false, sdone = false;
  for (int i = 0; i < 1000 && !(cdone && sdone); ++i) {
    if (!cdone) {
      int rc = SSL_do_handshake(client.get());
      int e = SSL_get_error(client.get(), rc);
      if (rc == 1)
        cdone = true;
      else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        break;
    }
    if (!sdone) {
      int rc = SSL_do_handshake(server.get());
      int e = SSL_get_error(server.get(), rc);
      if (rc == 1)
        sdone = true;
      else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        break;
    }
  }
  if (cdone && sdone) {
    r.ok = true;
    r.version = SSL_get_version(client.get());
    int nid = SSL_get_negotiated_group(client.get());
    EVP_PKEY* tmp = nullptr;
    if (SSL_get_peer_tmp_key(client.get(), &tmp) == 1) {
      if (EVP_PKEY_is_a(tmp, "DH")) {
        r.dh_bits = EVP_PKEY_get_bits(tmp);
      } else if (const char* g = SSL_group_to_name(client.get(), nid)) {
        r.group = g;
      }
      EVP_PKEY_free(tmp);
    }
    r.leaf_sha256 = CertSha256Hex(SSL_get0_peer_certificate(client.get()));
    r.chain_len = sk_X509_num(SSL_get_peer_cert_chain(client.get()));
  }
  ERR_clear_error();
  close(fds[0]);
  close(fds[1]);
  return r;
}

TEST(ServerTlsTest, EveryTlsProfileServesWhatTheTruthSays) {
  WorldOptions o;
  o.hosts = 60;
  o.seed = 9;
  auto world = BuildWorld(o);
  ASSERT_TRUE(world.ok());
  auto pki = Pki::LoadOrCreate("", *world, time(nullptr));
  ASSERT_TRUE(pki.ok()) << pki.status();
  auto tls = ServerTls::Create(**pki);
  ASSERT_TRUE(tls.ok()) << tls.status();
  std::map<Profile, int> seen;
  for (const Host& h : world->hosts) {
    const ProfileInfo& info = Info(h.profile);
    if (!info.tls.complete || seen[h.profile]++ > 0) continue;
    SCOPED_TRACE(std::string(info.name));
    auto truth = HostTruth(*world, **pki, h.index)["tls"];
    Handshake hs = RunHandshake(**tls, h);
    ASSERT_TRUE(hs.ok);
    EXPECT_EQ(hs.version, truth["version"].get<std::string>());
    if (truth["group"].is_null()) {
      EXPECT_EQ(hs.group, "");
      EXPECT_EQ(hs.dh_bits, truth["dh_bits"].get<int>());
    } else {
      EXPECT_EQ(hs.group, truth["group"].get<std::string>());
      EXPECT_TRUE(truth["dh_bits"].is_null());
    }
    EXPECT_EQ(hs.leaf_sha256, truth["leaf_sha256"].get<std::string>());
    EXPECT_EQ(hs.chain_len, info.cert_kind == CertKind::kRsaIntermediate ? 2 : 1);
  }
  int tls_profiles = 0;
  for (const auto& info : ProfileCatalogue()) tls_profiles += info.tls.complete;
  EXPECT_EQ(static_cast<int>(seen.size()), tls_profiles);
}

TEST(ServerTlsTest, TruthFactsComeFromTheCertificates) {
  WorldOptions o;
  o.hosts = 40;
  o.seed = 4;
  auto world = BuildWorld(o);
  ASSERT_TRUE(world.ok());
  auto pki = Pki::LoadOrCreate("", *world, time(nullptr));
  ASSERT_TRUE(pki.ok());
  for (const Host& h : world->hosts) {
    const auto& want = Info(h.profile).tls;
    if (!want.complete) {
      EXPECT_EQ((*pki)->leaf(h.index), nullptr);
      continue;
    }
    const LeafFacts& f = (*pki)->facts(h.index);
    EXPECT_EQ(f.chain_valid, want.chain_valid) << h.name;
    EXPECT_EQ(f.name_match, want.name_match) << h.name;
    switch (Info(h.profile).cert_kind) {
      case CertKind::kSelfSigned:
        EXPECT_EQ(f.verify_error.value_or(""), "self-signed certificate");
        break;
      case CertKind::kExpired:
        EXPECT_EQ(f.verify_error.value_or(""), "certificate has expired");
        break;
      case CertKind::kEcdsaIntermediate:
        EXPECT_EQ(f.verify_error.value_or(""), "unable to get local issuer certificate");
        break;
      default:
        EXPECT_FALSE(f.verify_error.has_value()) << h.name;
    }
  }
}

}  // namespace
}  // namespace mxcensus::lab
