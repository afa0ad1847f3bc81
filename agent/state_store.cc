#include "agent/state_store.h"

#include <set>

namespace tailsafe {

const char* GenStateName(GenState s) {
  switch (s) {
    case GenState::kActive: return "active";
    case GenState::kRetired: return "retired";
    case GenState::kSealed: return "sealed";
    case GenState::kReleased: return "released";
    case GenState::kLost: return "lost";
  }
  return "unknown";
}

Result<StateStore> StateStore::Open(const std::string& path) {
  Result<Db> db = Db::Open(path);
  if (!db) return db.status();
  StateStore s;
  s.db_ = std::move(db.value());
  Status st = s.db_.Exec(R"sql(
    CREATE TABLE IF NOT EXISTS origin_gen(
      bolt TEXT NOT NULL, gen INTEGER NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL,
      head_len INTEGER NOT NULL, head_hash INTEGER NOT NULL, state INTEGER NOT NULL,
      final_size INTEGER NOT NULL, PRIMARY KEY(bolt, gen));
    CREATE TABLE IF NOT EXISTS peer_ack(
      peer TEXT NOT NULL, bolt TEXT NOT NULL, gen INTEGER NOT NULL, acked INTEGER NOT NULL,
      PRIMARY KEY(peer, bolt, gen));
    CREATE TABLE IF NOT EXISTS replica(
      origin TEXT NOT NULL, bolt TEXT NOT NULL, gen INTEGER NOT NULL, durable INTEGER NOT NULL,
      sealed INTEGER NOT NULL, PRIMARY KEY(origin, bolt, gen));
    CREATE TABLE IF NOT EXISTS checkpoint(
      origin TEXT NOT NULL, bolt TEXT NOT NULL, gen INTEGER NOT NULL, offset INTEGER NOT NULL,
      PRIMARY KEY(origin, bolt));
    CREATE TABLE IF NOT EXISTS member(id TEXT PRIMARY KEY, address TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS bolt_process(bolt TEXT PRIMARY KEY, pid INTEGER NOT NULL, start_ns INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS death(
      bolt TEXT NOT NULL, pid INTEGER NOT NULL, start_ns INTEGER NOT NULL, has_checkpoint INTEGER NOT NULL,
      gen INTEGER NOT NULL, offset INTEGER NOT NULL, unix_ms INTEGER NOT NULL, PRIMARY KEY(bolt, pid, start_ns));
  )sql");
  if (!st) return st;
  auto prep = [&](Stmt* out, const char* sql) -> Status {
    Result<Stmt> r = s.db_.Prepare(sql);
    if (!r) return r.status();
    *out = std::move(r.value());
    return Status::Ok();
  };
  if (Status e = prep(&s.put_gen_, "INSERT OR REPLACE INTO origin_gen VALUES(?,?,?,?,?,?,?,?)"); !e) return e;
  if (Status e = prep(&s.put_ack_, "INSERT OR REPLACE INTO peer_ack VALUES(?,?,?,?)"); !e) return e;
  if (Status e = prep(&s.put_replica_, "INSERT OR REPLACE INTO replica VALUES(?,?,?,?,?)"); !e) return e;
  if (Status e = prep(&s.del_replica_, "DELETE FROM replica WHERE origin = ? AND bolt = ? AND gen = ?"); !e) return e;
  if (Status e = prep(&s.put_checkpoint_, "INSERT OR REPLACE INTO checkpoint VALUES(?,?,?,?)"); !e) return e;
  if (Status e = prep(&s.put_member_, "INSERT OR REPLACE INTO member VALUES(?,?)"); !e) return e;
  if (Status e = prep(&s.put_process_, "INSERT OR REPLACE INTO bolt_process VALUES(?,?,?)"); !e) return e;
  if (Status e = prep(&s.del_process_, "DELETE FROM bolt_process WHERE bolt = ?"); !e) return e;
  if (Status e = prep(&s.put_death_, "INSERT OR REPLACE INTO death VALUES(?,?,?,?,?,?,?)"); !e) return e;
  if (Status e = prep(&s.del_death_, "DELETE FROM death WHERE bolt = ? AND pid = ? AND start_ns = ?"); !e) return e;
  static_assert(static_cast<int>(GenState::kReleased) == 3 && static_cast<int>(GenState::kLost) == 4,
                "the statements below name the closed states by number");
  // Closed: released (3) or lost (4). Acks are kept only for generations still open (a
  // generation's row is durable before any of its bytes are shipped, so an ack never comes
  // before its generation's row).
  if (Status e = prep(&s.prune_acks_,
                      "DELETE FROM peer_ack WHERE bolt = ?1 AND gen NOT IN "
                      "(SELECT gen FROM origin_gen WHERE bolt = ?1 AND state NOT IN (3, 4))");
      !e) {
    return e;
  }
  if (Status e = prep(&s.prune_gens_,
                      "DELETE FROM origin_gen WHERE bolt = ?1 AND state IN (3, 4) AND "
                      "gen < (SELECT MAX(gen) FROM origin_gen WHERE bolt = ?1)");
      !e) {
    return e;
  }
  return s;
}

namespace {

// Runs `sql` and turns each result row into a T with `row`.
template <typename T, typename RowFn>
Result<std::vector<T>> LoadRows(Db& db, const char* sql, RowFn row) {
  Result<Stmt> q = db.Prepare(sql);
  if (!q) return q.status();
  std::vector<T> rows;
  for (;;) {
    Result<bool> r = q->Step();
    if (!r) return r.status();
    if (!*r) break;
    rows.push_back(row(*q));
  }
  return rows;
}

uint64_t U64(const Stmt& q, int col) { return static_cast<uint64_t>(q.Int(col)); }

}  // namespace

Result<std::vector<OriginGenRow>> StateStore::LoadOriginGens() {
  return LoadRows<OriginGenRow>(
      db_, "SELECT bolt,gen,dev,ino,head_len,head_hash,state,final_size FROM origin_gen ORDER BY bolt,gen",
      [](const Stmt& q) {
        OriginGenRow row;
        row.bolt = q.Text(0);
        row.gen = U64(q, 1);
        row.dev = U64(q, 2);
        row.ino = U64(q, 3);
        row.head_len = static_cast<uint32_t>(q.Int(4));
        row.head_hash = U64(q, 5);
        row.state = static_cast<GenState>(q.Int(6));
        row.final_size = U64(q, 7);
        return row;
      });
}

Result<std::vector<PeerAckRow>> StateStore::LoadPeerAcks() {
  return LoadRows<PeerAckRow>(db_, "SELECT peer,bolt,gen,acked FROM peer_ack", [](const Stmt& q) {
    return PeerAckRow{q.Text(0), q.Text(1), U64(q, 2), U64(q, 3)};
  });
}

Result<std::vector<ReplicaRow>> StateStore::LoadReplicas() {
  return LoadRows<ReplicaRow>(db_, "SELECT origin,bolt,gen,durable,sealed FROM replica", [](const Stmt& q) {
    return ReplicaRow{q.Text(0), q.Text(1), U64(q, 2), U64(q, 3), q.Int(4) != 0};
  });
}

Result<std::vector<CheckpointRow>> StateStore::LoadCheckpoints() {
  return LoadRows<CheckpointRow>(db_, "SELECT origin,bolt,gen,offset FROM checkpoint", [](const Stmt& q) {
    return CheckpointRow{q.Text(0), q.Text(1), U64(q, 2), U64(q, 3)};
  });
}

Result<std::vector<MemberRow>> StateStore::LoadMembers() {
  return LoadRows<MemberRow>(db_, "SELECT id,address FROM member ORDER BY id",
                             [](const Stmt& q) { return MemberRow{q.Text(0), q.Text(1)}; });
}

Result<std::vector<BoltProcessRow>> StateStore::LoadBoltProcesses() {
  return LoadRows<BoltProcessRow>(db_, "SELECT bolt,pid,start_ns FROM bolt_process", [](const Stmt& q) {
    return BoltProcessRow{q.Text(0), U64(q, 1), U64(q, 2)};
  });
}

Result<std::vector<DeathRow>> StateStore::LoadDeaths() {
  return LoadRows<DeathRow>(
      db_, "SELECT bolt,pid,start_ns,has_checkpoint,gen,offset,unix_ms FROM death ORDER BY unix_ms", [](const Stmt& q) {
        DeathRow d;
        d.bolt = q.Text(0);
        d.pid = U64(q, 1);
        d.start_ns = U64(q, 2);
        d.has_checkpoint = q.Int(3) != 0;
        d.gen = U64(q, 4);
        d.offset = U64(q, 5);
        d.unix_ms = U64(q, 6);
        return d;
      });
}

namespace {
template <typename T>
void AppendRows(std::vector<T>* to, std::vector<T>&& from) {
  to->insert(to->end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}
}  // namespace

void StateBatch::Append(StateBatch&& later) {
  AppendRows(&origin_gens, std::move(later.origin_gens));
  AppendRows(&peer_acks, std::move(later.peer_acks));
  AppendRows(&replicas, std::move(later.replicas));
  AppendRows(&checkpoints, std::move(later.checkpoints));
  AppendRows(&members, std::move(later.members));
  AppendRows(&bolt_processes, std::move(later.bolt_processes));
  AppendRows(&deaths, std::move(later.deaths));
}

Status StateStore::Apply(const StateBatch& batch, bool* full) {
  if (full) *full = false;
  if (batch.empty()) return Status::Ok();
  // Whatever failed, the transaction is rolled back (a failed COMMIT may leave it open).
  auto fail = [&](Status st) {
    if (full) *full = db_.LastErrorWasFull();
    (void)db_.Exec("ROLLBACK");  // fails harmlessly when SQLite already rolled back
    return st;
  };
  if (Status s = db_.Exec("BEGIN IMMEDIATE"); !s) return fail(s);
  if (Status s = WriteRows(batch); !s) return fail(s);
  if (Status s = PruneClosed(batch); !s) return fail(s);
  if (Status s = db_.Exec("COMMIT"); !s) return fail(s);
  return Status::Ok();
}

Status StateStore::WriteRows(const StateBatch& batch) {
  Status st;
  for (const auto& g : batch.origin_gens) {
    st = put_gen_.Bind(1, g.bolt).Bind(2, static_cast<int64_t>(g.gen)).Bind(3, static_cast<int64_t>(g.dev))
             .Bind(4, static_cast<int64_t>(g.ino)).Bind(5, static_cast<int64_t>(g.head_len))
             .Bind(6, static_cast<int64_t>(g.head_hash)).Bind(7, static_cast<int64_t>(g.state))
             .Bind(8, static_cast<int64_t>(g.final_size)).Run();
    if (!st) break;
  }
  for (size_t i = 0; st && i < batch.peer_acks.size(); ++i) {
    const auto& a = batch.peer_acks[i];
    st = put_ack_.Bind(1, a.peer).Bind(2, a.bolt).Bind(3, static_cast<int64_t>(a.gen))
             .Bind(4, static_cast<int64_t>(a.acked)).Run();
  }
  for (size_t i = 0; st && i < batch.replicas.size(); ++i) {
    const auto& r = batch.replicas[i];
    st = r.remove ? del_replica_.Bind(1, r.origin).Bind(2, r.bolt).Bind(3, static_cast<int64_t>(r.gen)).Run()
                  : put_replica_.Bind(1, r.origin).Bind(2, r.bolt).Bind(3, static_cast<int64_t>(r.gen))
                        .Bind(4, static_cast<int64_t>(r.durable)).Bind(5, static_cast<int64_t>(r.sealed ? 1 : 0)).Run();
  }
  for (size_t i = 0; st && i < batch.checkpoints.size(); ++i) {
    const auto& c = batch.checkpoints[i];
    st = put_checkpoint_.Bind(1, c.origin).Bind(2, c.bolt).Bind(3, static_cast<int64_t>(c.gen))
             .Bind(4, static_cast<int64_t>(c.offset)).Run();
  }
  for (size_t i = 0; st && i < batch.members.size(); ++i) {
    st = put_member_.Bind(1, batch.members[i].id).Bind(2, batch.members[i].address).Run();
  }
  for (size_t i = 0; st && i < batch.bolt_processes.size(); ++i) {
    const auto& p = batch.bolt_processes[i];
    st = p.pid == 0 ? del_process_.Bind(1, p.bolt).Run()
                    : put_process_.Bind(1, p.bolt).Bind(2, static_cast<int64_t>(p.pid))
                          .Bind(3, static_cast<int64_t>(p.start_ns)).Run();
  }
  for (size_t i = 0; st && i < batch.deaths.size(); ++i) {
    const auto& d = batch.deaths[i];
    st = d.remove ? del_death_.Bind(1, d.bolt).Bind(2, static_cast<int64_t>(d.pid))
                        .Bind(3, static_cast<int64_t>(d.start_ns)).Run()
                  : put_death_.Bind(1, d.bolt).Bind(2, static_cast<int64_t>(d.pid))
                        .Bind(3, static_cast<int64_t>(d.start_ns)).Bind(4, static_cast<int64_t>(d.has_checkpoint ? 1 : 0))
                        .Bind(5, static_cast<int64_t>(d.gen)).Bind(6, static_cast<int64_t>(d.offset))
                        .Bind(7, static_cast<int64_t>(d.unix_ms)).Run();
  }
  return st;
}

Status StateStore::PruneClosed(const StateBatch& batch) {
  std::set<std::string> bolts;  // bolts with a generation closed in this batch
  for (const auto& g : batch.origin_gens) {
    if (g.state == GenState::kReleased || g.state == GenState::kLost) bolts.insert(g.bolt);
  }
  for (const std::string& bolt : bolts) {
    if (Status s = prune_acks_.Bind(1, bolt).Run(); !s) return s;
    if (Status s = prune_gens_.Bind(1, bolt).Run(); !s) return s;
  }
  return Status::Ok();
}

}  // namespace tailsafe
