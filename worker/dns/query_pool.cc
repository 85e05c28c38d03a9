#include "worker/dns/query_pool.h"

#include <algorithm>

#include "worker/dns/dns_message.h"

namespace mxcensus::dns {

std::string_view DnsQueryTypeName(int index) {
  static constexpr std::string_view kNames[kDnsQueryTypeCount] = {"A",   "AAAA", "MX",
                                                                  "TXT", "TLSA", "other"};
  return kNames[index];
}

int DnsQueryTypeIndex(uint16_t type) {
  switch (type) {
    case kTypeA:
      return 0;
    case kTypeAaaa:
      return 1;
    case kTypeMx:
      return 2;
    case kTypeTxt:
      return 3;
    case kTypeTlsa:
      return 4;
    default:
      return 5;
  }
}

std::string_view DnsQueryResultName(int index) {
  static constexpr std::string_view kNames[kDnsQueryResultCount] = {
      "noerror",     "nodata",  "nxdomain",    "servfail",  "refused",
      "other_rcode", "timeout", "unreachable", "cancelled", "error"};
  return kNames[index];
}

int DnsQueryResultIndex(const QueryReply& r) {
  if (r.message.size() >= 12) {
    // The header says what the server answered; c-ares' status folds NXDOMAIN and NODATA.
    const int rcode = r.message[3] & 0x0F;
    const int ancount = (r.message[6] << 8) | r.message[7];
    switch (rcode) {
      case 0:
        return ancount > 0 ? 0 : 1;
      case 3:
        return 2;
      case 2:
        return 3;
      case 5:
        return 4;
      default:
        return 5;
    }
  }
  switch (r.status) {
    case ARES_SUCCESS:
      return 0;
    case ARES_ENODATA:
      return 1;
    case ARES_ENOTFOUND:
      return 2;
    case ARES_ESERVFAIL:
      return 3;
    case ARES_EREFUSED:
      return 4;
    case ARES_EFORMERR:
    case ARES_ENOTIMP:
      return 5;
    case ARES_ETIMEOUT:
      return 6;
    case ARES_ECONNREFUSED:
      return 7;
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
      return 8;
    default:
      return 9;
  }
}

absl::StatusOr<std::unique_ptr<QueryPool>> QueryPool::Create(uv_loop_t* loop,
                                                             const Options& options,
                                                             std::function<void()> after_io) {
  std::unique_ptr<QueryPool> pool(new QueryPool());
  pool->after_io_ = std::move(after_io);
  pool->loop_ = loop;
  pool->timeout_ms_ = std::max(1, options.timeout_ms);
  std::vector<std::string> servers = options.servers;
  if (servers.empty()) servers.push_back("");  // one channel on the system's configuration
  for (const auto& server : servers) {
    AresUvChannel::Options co;
    co.servers_csv = server;
    co.timeout_ms = options.timeout_ms;
    co.tries = options.tries;
    co.rcvbuf_bytes = options.rcvbuf_bytes;
    QueryPool* raw = pool.get();
    auto ch = AresUvChannel::Create(loop, co, [raw] { raw->AfterIo(); });
    if (!ch.ok()) {
      // Close what was opened; the pool is freed once its handles are (never inside Create).
      auto* orphan = pool.release();
      orphan->Close([orphan] { delete orphan; });
      return ch.status();
    }
    pool->channels_.push_back(std::move(*ch));
    Window w;
    w.limit = std::max(1, options.window_per_server);
    pool->windows_.push_back(w);
  }
  return pool;
}

int QueryPool::in_flight() const {
  int n = 0;
  for (const auto& ch : channels_) n += ch->in_flight();
  return n;
}

int QueryPool::in_window() const {
  int n = 0;
  for (const auto& w : windows_) n += w.used;
  return n;
}

int QueryPool::PickChannel(int avoid) const {
  int best = -1;
  for (int i = 0; i < static_cast<int>(channels_.size()); ++i) {
    if (i == avoid && channels_.size() > 1) continue;
    const int load = windows_[i].used;
    if (load >= windows_[i].limit) continue;
    if (best < 0 || load < windows_[best].used) best = i;
  }
  return best;
}

void QueryPool::Enter(Queued* q) {
  Window& w = windows_[static_cast<size_t>(q->channel)];
  q->sent_ms = uv_now(loop_);
  q->in_window = true;
  q->next = nullptr;
  q->prev = w.tail;
  (w.tail != nullptr ? w.tail->next : w.head) = q;
  w.tail = q;
  ++w.used;
}

void QueryPool::Leave(Queued* q) {
  if (!q->in_window) return;
  Window& w = windows_[static_cast<size_t>(q->channel)];
  (q->prev != nullptr ? q->prev->next : w.head) = q->next;
  (q->next != nullptr ? q->next->prev : w.tail) = q->prev;
  q->prev = q->next = nullptr;
  q->in_window = false;
  --w.used;
}

void QueryPool::AgeWindows() {
  const uint64_t now = uv_now(loop_);
  for (auto& w : windows_) {
    // Sent in order, so the oldest are at the head: O(1) per aged query.
    while (w.head != nullptr && w.head->sent_ms + static_cast<uint64_t>(timeout_ms_) <= now) {
      ++stats_.aged;
      Leave(w.head);
    }
  }
}

void QueryPool::Submit(std::string name, uint16_t type, Priority priority, Handler handler,
                       void* ctx, int tag) {
  ++stats_.submitted;
  auto* q = new Queued;
  q->pool = this;
  q->name = std::move(name);
  q->type = type;
  q->handler = handler;
  q->ctx = ctx;
  q->tag = tag;
  (priority == Priority::kFollowUp ? follow_up_ : fresh_).push_back(q);
}

void QueryPool::Start(Queued* q, int channel) {
  ++stats_.sent;
  q->channel = channel;
  Enter(q);  // before Query(): c-ares may answer synchronously
  channels_[channel]->Query(q->name, q->type, q);
}

void QueryPool::Queued::OnReply(const QueryReply& reply) { pool->OnReply(this, reply); }

void QueryPool::OnReply(Queued* q, const QueryReply& r) {
  Leave(q);
  stats_.timeouts += static_cast<uint64_t>(r.timeouts);
  if (r.timeouts > 0) stats_.retries += r.timeouts - (r.status == ARES_ETIMEOUT ? 1 : 0);
  switch (r.status) {
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
      break;  // shutting down
    case ARES_ETIMEOUT:
    case ARES_ECONNREFUSED:
      if (!closing_ && channels_.size() > 1 && q->tried_channel < 0) {
        ++stats_.failovers;
        q->tried_channel = q->channel;
        follow_up_.push_front(q);  // started at the next Pump()
        return;
      }
      ++stats_.unanswered;
      break;
    case ARES_ENOMEM:
    case ARES_EBADNAME:
    case ARES_EBADQUERY:
    case ARES_EBADFAMILY:
      ++stats_.errors;
      break;
    default:
      ++stats_.answered;
      break;
  }
  ++stats_.by_type_result[static_cast<size_t>(DnsQueryTypeIndex(q->type))]
                         [static_cast<size_t>(DnsQueryResultIndex(r))];
  std::unique_ptr<Queued> owned(q);
  q->handler(q->ctx, q->tag, r);
}

void QueryPool::Pump() {
  if (pumping_ || closing_) return;  // a synchronous c-ares callback inside Start()
  pumping_ = true;
  AgeWindows();
  std::vector<bool> touched(channels_.size(), false);
  for (;;) {
    std::deque<Queued*>* queue = !follow_up_.empty() ? &follow_up_ : &fresh_;
    if (queue->empty()) break;
    int ch = PickChannel(queue->front()->tried_channel);
    if (ch < 0) break;
    Queued* q = queue->front();
    queue->pop_front();
    touched[ch] = true;
    Start(q, ch);
  }
  pumping_ = false;
  for (size_t i = 0; i < channels_.size(); ++i) {
    if (touched[i]) channels_[i]->ArmTimer();
  }
}

void QueryPool::AfterIo() {
  if (closing_) return;
  Pump();
  if (after_io_) after_io_();
}

void QueryPool::Close(std::function<void()> on_closed) {
  if (closing_) return;
  closing_ = true;
  // Queued queries never started: complete them as cancelled so their owners are released.
  for (auto* queue : {&follow_up_, &fresh_}) {
    while (!queue->empty()) {
      std::unique_ptr<Queued> q(queue->front());
      queue->pop_front();
      q->handler(q->ctx, q->tag, QueryReply{ARES_ECANCELLED, 0, {}});
    }
  }
  closing_channels_ = static_cast<int>(channels_.size());
  auto done = std::make_shared<std::function<void()>>(std::move(on_closed));
  if (closing_channels_ == 0) {
    (*done)();
    return;
  }
  for (auto& ch : channels_) {
    ch->Close([this, done] {
      if (--closing_channels_ == 0 && *done) (*done)();
    });
  }
}

}  // namespace mxcensus::dns
