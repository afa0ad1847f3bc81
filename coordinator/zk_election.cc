#include "coordinator/zk_election.h"

#include <unistd.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace tailsafe {

namespace {

unsigned long long U(uint64_t v) { return static_cast<unsigned long long>(v); }

// The sequence number ZooKeeper appended to a candidate's name ("n-0000000042" -> 42).
std::optional<uint64_t> Sequence(const std::string& name) {
  size_t dash = name.rfind('-');
  if (dash == std::string::npos || dash + 1 >= name.size()) return std::nullopt;
  uint64_t v = 0;
  for (size_t i = dash + 1; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  return v;
}

std::string Basename(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

std::vector<std::string> ZkElection::Ordered(std::vector<std::string> candidates) {
  std::stable_sort(candidates.begin(), candidates.end(), [](const std::string& a, const std::string& b) {
    auto x = Sequence(a), y = Sequence(b);
    if (x && y) return *x < *y;
    return x.has_value() && !y.has_value();
  });
  return candidates;
}

ZkElection::ZkElection(uv_loop_t* loop, Options options) : loop_(loop), options_(std::move(options)) {}

ZkElection::~ZkElection() { Stop(); }

Status ZkElection::Start() {
  auto t = MakeUv<uv_timer_t>(uv_timer_init, loop_);
  if (!t) return t.status();
  timer_ = std::move(t.value());
  timer_->data = this;
  LOG_NOTICE("zookeeper: joining the election under %s on %zu ensemble members", options_.root.c_str(),
             options_.members.size());
  NewSession();
  return Status::Ok();
}

void ZkElection::Stop() {
  if (stopped_) return;
  stopped_ = true;
  timer_.Reset();
  leading_ = false;
  if (client_) client_->Close();  // the candidate goes at once: a follower leads without waiting
  if (client_) retired_.push_back(std::move(client_));  // destroyed with this object
}

void ZkElection::NewSession() {
  retired_.clear();
  if (stopped_) return;
  candidate_.clear();
  setting_up_ = false;
  client_ = std::make_unique<ZkClient>(loop_, ZkClient::Options{options_.members, options_.session_ms});
  client_->on_state = [this](ZkClient::State s) { OnState(s); };
  if (Status s = client_->Start(); !s) Restart(s.message());
}

void ZkElection::OnState(ZkClient::State s) {
  switch (s) {
    case ZkClient::State::kConnected:
      uv_timer_stop(timer_.get());
      if (candidate_.empty()) {
        if (!setting_up_) EnsurePaths();
      } else {
        Evaluate();  // back within the session: is this candidate still the lowest?
        Survey();
      }
      return;
    case ZkClient::State::kConnecting:
      Lose("lost the connection to ZooKeeper");
      // Give the session its timeout to come back; after that it is as good as expired, and a
      // new one (a new candidate, behind whoever leads now) is the way back.
      uv_timer_start(timer_.get(), [](uv_timer_t* t) {
        auto* self = static_cast<ZkElection*>(t->data);
        if (self && self->client_ && self->client_->state() != ZkClient::State::kConnected) {
          self->Restart("disconnected from ZooKeeper for longer than the session timeout");
        }
      }, options_.session_ms, 0);
      return;
    case ZkClient::State::kExpired:
      Restart("the ZooKeeper session expired");
      return;
  }
}

void ZkElection::EnsurePaths() {
  setting_up_ = true;
  std::vector<std::pair<std::string, std::string>> paths;  // (path, initial data)
  for (size_t at = options_.root.find('/', 1); at != std::string::npos; at = options_.root.find('/', at + 1)) {
    paths.push_back({options_.root.substr(0, at), ""});
  }
  paths.push_back({options_.root, ""});
  paths.push_back({options_.root + "/election", ""});
  paths.push_back({options_.root + "/term", "0"});
  for (const char* p : {"/ns", "/ns/agents", "/ns/bolts", "/ns/recoveries"}) paths.push_back({options_.root + p, ""});
  // A session's requests are answered in order: the last answer says they are all made.
  auto left = std::make_shared<size_t>(paths.size());
  auto failed = std::make_shared<bool>(false);
  for (const auto& [path, data] : paths) {
    bool queued = client_->Create(path, data, 0, [this, left, failed, path = path](int rc, const std::string&) {
      if (rc != ZOK && rc != ZNODEEXISTS && !*failed) {
        *failed = true;
        if (rc != ZCONNECTIONLOSS) {
          Restart("cannot create " + path + ": " + ZkError(rc));
        } else {
          setting_up_ = false;  // made again once reconnected
        }
      }
      if (--*left == 0 && !*failed) Candidate();
    });
    if (!queued) return Restart("cannot create " + path);
  }
}

void ZkElection::Candidate() {
  nlohmann::json data = {{"address", options_.address}, {"pid", ::getpid()}};
  if (!options_.page.empty()) data["page"] = options_.page;
  bool queued = client_->Create(options_.root + "/election/n-", data.dump(), ZOO_EPHEMERAL | ZOO_SEQUENCE,
                                [this](int rc, const std::string& created) {
    setting_up_ = false;
    if (rc != ZOK) {
      // After a connection loss the candidate may exist unseen: only a new session (which
      // takes any such ghost with the old one) makes sure there is exactly one.
      return Restart("cannot create this instance's candidate znode: " + ZkError(rc));
    }
    candidate_ = created;
    restart_ms_ = 100;
    LOG_INFO("zookeeper: candidate %s (session 0x%llx)", candidate_.c_str(), U(static_cast<uint64_t>(client_->session_id())));
    Evaluate();
    Survey();
  });
  if (!queued) Restart("cannot create this instance's candidate znode");
}

void ZkElection::Evaluate() {
  if (stopped_ || !client_ || client_->state() != ZkClient::State::kConnected || candidate_.empty()) return;
  uint64_t round = ++round_;
  std::string dir = options_.root + "/election";
  client_->Children(dir, nullptr, [this, round, dir](int rc, std::vector<std::string> names) {
    if (round != round_) return;
    if (rc == ZCONNECTIONLOSS) return;  // evaluated again once reconnected
    if (rc != ZOK) return Restart("cannot list " + dir + ": " + ZkError(rc));
    std::vector<std::string> ordered = Ordered(std::move(names));
    auto mine = std::find(ordered.begin(), ordered.end(), Basename(candidate_));
    if (mine == ordered.end()) return Restart("this instance's candidate " + candidate_ + " is gone");
    if (mine == ordered.begin()) {
      // Named as the leader only once it leads: until then a client sent here is refused again.
      if (!leading_) {
        leader_address_.clear();
        leader_page_.clear();
      }
      if (!leading_ && !claiming_) Claim();
      return;
    }
    if (leading_) Lose("a candidate before this one exists");  // cannot happen: sequences only grow
    std::string lowest = dir + "/" + ordered.front();
    std::string before = dir + "/" + *(mine - 1);
    auto again = [this](int, const std::string&) { Evaluate(); };
    client_->Get(lowest, again, [this, round](int grc, const std::string& data, const ZkClient::NodeStat&) {
      if (round != round_) return;
      if (grc == ZNONODE) return Evaluate();
      if (grc != ZOK) return;
      nlohmann::json d = nlohmann::json::parse(data, nullptr, false);
      leader_address_ = d.is_object() ? d.value("address", "") : "";
      leader_page_ = d.is_object() ? d.value("page", "") : "";
    });
    if (before != lowest) {
      client_->Exists(before, again, [this, round](int erc, const ZkClient::NodeStat&) {
        if (round == round_ && erc == ZNONODE) Evaluate();  // gone before the watch was set
      });
    }
  });
}

// Every candidate's address and page, for this instance's status page. Only the newest
// survey's watch surveys again, so watches do not pile up across reconnections.
void ZkElection::Survey() {
  if (options_.page.empty() || stopped_ || !client_ || client_->state() != ZkClient::State::kConnected) return;
  uint64_t round = ++survey_round_;
  std::string dir = options_.root + "/election";
  auto again = [this, round](int, const std::string&) {
    if (round == survey_round_) Survey();
  };
  client_->Children(dir, again, [this, round, dir](int rc, std::vector<std::string> names) {
    if (round != survey_round_ || rc != ZOK) return;  // a lost connection surveys again on its return
    std::vector<std::string> ordered = Ordered(std::move(names));
    auto found = std::make_shared<std::vector<Instance>>(ordered.size());
    auto left = std::make_shared<size_t>(ordered.size());
    if (ordered.empty()) instances_.clear();
    for (size_t i = 0; i < ordered.size(); ++i) {
      client_->Get(dir + "/" + ordered[i], nullptr, [this, round, found, left, i](int grc, const std::string& data,
                                                                                 const ZkClient::NodeStat&) {
        if (round != survey_round_) return;
        nlohmann::json d = grc == ZOK ? nlohmann::json::parse(data, nullptr, false) : nlohmann::json();
        if (d.is_object()) (*found)[i] = {d.value("address", ""), d.value("page", "")};
        if (--*left > 0) return;
        instances_.clear();
        for (auto& one : *found) {
          if (!one.address.empty()) instances_.push_back(std::move(one));  // gone meanwhile, or unreadable
        }
      });
    }
  });
}

void ZkElection::Claim() {
  claiming_ = true;
  std::string term_path = options_.root + "/term";
  ZkClient* session = client_.get();
  client_->Get(term_path, nullptr, [this, term_path, session](int rc, const std::string& data, const ZkClient::NodeStat& st) {
    if (rc != ZOK) {
      claiming_ = false;
      if (rc != ZCONNECTIONLOSS) Restart("cannot read " + term_path + ": " + ZkError(rc));
      return;
    }
    uint64_t term = 0;
    for (char c : data) {
      if (c < '0' || c > '9') return Restart(term_path + " holds '" + data.substr(0, 32) + "', not a term number");
      term = term * 10 + static_cast<uint64_t>(c - '0');
    }
    uint64_t next = term + 1;
    std::vector<ZkClient::Op> ops = {ZkClient::Op::Check(candidate_, -1),
                                     ZkClient::Op::Set(term_path, std::to_string(next), st.version)};
    client_->Multi(std::move(ops), [this, next, session](int mrc, const std::vector<ZkClient::OpResult>& results) {
      if (mrc == ZBADVERSION && !results.empty() && results[0].rc == ZOK) {  // the term moved: read it again
        claiming_ = false;
        return Claim();
      }
      if (mrc != ZOK) {
        claiming_ = false;
        if (mrc == ZCONNECTIONLOSS) return;  // the connection's return evaluates again
        return Restart("cannot claim term " + std::to_string(next) + ": " + ZkError(mrc));
      }
      LOG_NOTICE("zookeeper: %s leads: term %llu; loading the namespace", candidate_.c_str(), U(next));
      auto loaded = [this, next, session](const Status& s) {
        claiming_ = false;
        if (client_.get() != session || stopped_) return;
        if (!s) return Restart("cannot load the namespace: " + s.message());
        if (client_->state() != ZkClient::State::kConnected) return;  // lost meanwhile; evaluated again
        leading_ = true;
        leader_address_ = options_.address;
        leader_page_ = options_.page;
        if (on_lead) on_lead(next);
      };
      if (prepare) {
        prepare(loaded);
      } else {
        loaded(Status::Ok());
      }
    });
  });
}

void ZkElection::Lose(const std::string& why) {
  claiming_ = false;
  if (!leading_) return;
  leading_ = false;
  // Nobody is known to lead now; naming this instance would send clients back to it.
  if (leader_address_ == options_.address) {
    leader_address_.clear();
    leader_page_.clear();
  }
  if (on_reset) on_reset();
  if (on_follow) on_follow(why);
}

void ZkElection::Restart(const std::string& why) {
  if (stopped_) return;
  LOG_WARN("zookeeper: %s; starting a new session in %llu ms", why.c_str(), U(restart_ms_));
  Lose(why);
  // Often called from the client's own callback: closed now, destroyed at the next session.
  if (client_) client_->Close();
  if (client_) retired_.push_back(std::move(client_));
  candidate_.clear();
  setting_up_ = false;
  leader_address_.clear();
  leader_page_.clear();
  instances_.clear();
  if (on_reset) on_reset();
  uint64_t wait = restart_ms_;
  restart_ms_ = std::min<uint64_t>(restart_ms_ * 2, 2000);
  uv_timer_start(timer_.get(), [](uv_timer_t* t) {
    if (auto* self = static_cast<ZkElection*>(t->data)) self->NewSession();
  }, wait, 0);
}

bool ZkElection::StepDown(const std::string& why) {
  Restart("gave up the leadership: " + why);
  return true;
}

}  // namespace tailsafe
