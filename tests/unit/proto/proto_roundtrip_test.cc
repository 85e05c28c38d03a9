#include <gtest/gtest.h>

#include "google/protobuf/util/message_differencer.h"
#include "proto/convert.h"
#include "proto/mxcensus.pb.h"

namespace {

mxcensus::v1::ProbeResult FullyPopulated() {
  mxcensus::v1::ProbeResult r;
  r.set_ip("127.20.0.5");
  r.set_port(2525);
  r.set_name("mx1.example.test");
  r.set_tag("batch-7");
  r.set_outcome(mxcensus::v1::STARTTLS_OK);
  r.set_stage(mxcensus::v1::STAGE_QUIT);
  r.set_error("none");
  r.set_banner("220 mx1.example.test ESMTP");
  r.add_ehlo("mx1.example.test");
  r.add_ehlo("PIPELINING");
  r.add_ehlo("STARTTLS");
  r.add_ehlo_tls("mx1.example.test");
  r.set_helo_fallback(true);
  r.set_pipelined_after_starttls(true);
  r.set_target_id(42);
  auto* c = r.mutable_codes();
  c->set_banner(220);
  c->set_ehlo(250);
  c->set_helo(250);
  c->set_starttls(220);
  c->set_ehlo_tls(250);
  c->set_quit(221);
  auto* t = r.mutable_tls();
  t->set_version("TLSv1.3");
  t->set_cipher("TLS_AES_256_GCM_SHA384");
  t->set_group("x25519");
  t->set_dh_bits(1024);
  t->add_chain(std::string("\x30\x82\x01\x00\x00binary\xff", 11));
  t->add_chain("second");
  t->set_chain_valid(true);
  t->set_verify_error("unable to get local issuer certificate");
  t->set_name_match(true);
  t->set_alert("handshake failure");
  t->set_handshake_complete(true);
  auto* leaf = t->mutable_leaf();
  leaf->set_sha256(std::string(32, '\xab'));
  leaf->set_subject("CN=mx1.example.test");
  leaf->set_issuer("CN=lab CA");
  leaf->add_sans("mx1.example.test");
  leaf->add_sans("mx2.example.test");
  leaf->mutable_not_before()->set_seconds(1767225600);
  leaf->mutable_not_after()->set_seconds(1798761600);
  leaf->set_key_type("ec");
  leaf->set_key_bits(256);
  leaf->set_sig_alg("ecdsa-with-SHA256");
  leaf->set_self_signed(true);
  auto* tm = r.mutable_timing();
  tm->set_connect_ms(0.2);
  tm->set_banner_ms(1.1);
  tm->set_ehlo_ms(0.3);
  tm->set_starttls_ms(0.2);
  tm->set_tls_ms(2.5);
  tm->set_ehlo_tls_ms(0.4);
  tm->set_quit_ms(0.1);
  tm->set_total_ms(5.0);
  r.mutable_started_at()->set_seconds(1795867200);
  r.mutable_started_at()->set_nanos(123000000);
  return r;
}

TEST(ProtoRoundTripTest, FullyPopulatedProbeResultSurvivesSerialisation) {
  const auto original = FullyPopulated();
  std::string wire;
  ASSERT_TRUE(original.SerializeToString(&wire));
  mxcensus::v1::ProbeResult back;
  ASSERT_TRUE(back.ParseFromString(wire));
  std::string diff;
  google::protobuf::util::MessageDifferencer d;
  d.ReportDifferencesToString(&diff);
  EXPECT_TRUE(d.Compare(original, back)) << diff;
  // Every field set above must be present, i.e. no field silently defaulted.
  EXPECT_EQ(back.tls().chain(0).size(), 11u);
  EXPECT_EQ(back.tls().leaf().sans_size(), 2);
  EXPECT_EQ(back.codes().quit(), 221);
}

TEST(ProtoRoundTripTest, ResultBatchCarriesProbesAndDomains) {
  mxcensus::v1::WorkerMessage m;
  auto* b = m.mutable_results();
  b->set_batch_id(7);
  b->set_crawl_id(3);
  b->set_lease_token(99);
  *b->add_probes() = FullyPopulated();
  auto* d = b->add_domains();
  d->set_domain("example.test");
  d->set_status(mxcensus::v1::DNS_OK);
  auto* mx = d->add_mx();
  mx->set_name("mx1.example.test");
  mx->set_preference(10);
  mx->add_ipv4("127.20.0.5");
  auto* tlsa = mx->add_tlsa();
  tlsa->set_usage(3);
  tlsa->set_selector(1);
  tlsa->set_matching_type(1);
  tlsa->set_data(std::string(32, '\x01'));
  d->mutable_policy()->set_dmarc_policy("reject");
  std::string wire;
  ASSERT_TRUE(m.SerializeToString(&wire));
  mxcensus::v1::WorkerMessage back;
  ASSERT_TRUE(back.ParseFromString(wire));
  ASSERT_TRUE(back.has_results());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(m, back));
  EXPECT_EQ(back.results().domains(0).mx(0).tlsa(0).usage(), 3u);
}

TEST(ProtoRoundTripTest, DomainFormSurvivesBothCopyingAndMovingConversions) {
  auto original = FullyPopulated();
  original.mutable_tls()->add_chain_sha256(std::string(32, '\x01'));
  original.mutable_tls()->add_chain_sha256(std::string(32, '\x02'));
  google::protobuf::util::MessageDifferencer d;
  std::string diff;
  d.ReportDifferencesToString(&diff);
  // Copying: the message is left as it was.
  const auto copy = original;
  const mxcensus::ProbeResult from_copy = mxcensus::FromProto(copy);
  mxcensus::v1::ProbeResult back;
  mxcensus::ToProto(from_copy, &back);  // the copying overload
  EXPECT_TRUE(d.Compare(original, back)) << diff;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(original, copy));
  // Moving (the worker's and the coordinator's path): the same result.
  auto moved = original;
  mxcensus::ProbeResult r = mxcensus::FromProto(std::move(moved));
  EXPECT_EQ(r.tls->chain_der[0].size(), 11u);
  ASSERT_EQ(r.tls->chain_sha256.size(), 2u);
  mxcensus::v1::ProbeResult again;
  mxcensus::ToProto(std::move(r), &again);
  diff.clear();
  EXPECT_TRUE(d.Compare(original, again)) << diff;
}

TEST(ProtoRoundTripTest, OutcomeEnumMatchesDesignTaxonomy) {
  // The enum's names, lower-cased, are the outcome names of DESIGN.md (and SQL, JSON).
  const auto* e = mxcensus::v1::ProbeOutcome_descriptor();
  EXPECT_EQ(e->value_count(), 14);  // 13 outcomes + UNSPECIFIED
  EXPECT_NE(e->FindValueByName("STARTTLS_STRIPPED"), nullptr);
  EXPECT_NE(e->FindValueByName("BLOCKED"), nullptr);
}

}  // namespace
