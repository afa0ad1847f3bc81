#include "coordinator/namespace_store.h"

#include <set>

#include "common/names.h"

namespace tailsafe {

Status CheckNamespacePath(std::string_view path) {
  if (path.empty() || path[0] != '/') return Status::Error("path '" + Printable(path, 64) + "' does not start with /");
  if (path == "/") return Status::Ok();
  std::string_view rest = path.substr(1);
  for (;;) {
    size_t slash = rest.find('/');
    std::string_view name = rest.substr(0, slash);
    if (!IsValidName(name)) {
      return Status::Error("path '" + Printable(path, 256) + "': '" + Printable(name, 64) +
                           "' is not a valid name (letters, digits, '.', '_', '-')");
    }
    if (slash == std::string_view::npos) return Status::Ok();
    rest = rest.substr(slash + 1);
  }
}

Result<std::unique_ptr<SqliteNamespaceStore>> SqliteNamespaceStore::Open(const std::string& db_path) {
  Result<Db> db = Db::Open(db_path);
  if (!db) return db.status();
  std::unique_ptr<SqliteNamespaceStore> s(new SqliteNamespaceStore());
  s->db_ = std::move(db.value());
  if (Status st = s->db_.Exec("CREATE TABLE IF NOT EXISTS node(path TEXT PRIMARY KEY, value TEXT NOT NULL)"); !st) {
    return st;
  }
  Result<Stmt> q = s->db_.Prepare("SELECT path, value FROM node");
  if (!q) return q.status();
  for (;;) {
    Result<bool> r = q->Step();
    if (!r) return r.status();
    if (!*r) break;
    std::string path = q->Text(0);
    if (Status bad = CheckNamespacePath(path); !bad || path == "/") {
      return Status::Error(db_path + " holds an invalid path: " + bad.message());
    }
    s->docs_.Put(path, q->Text(1));
  }
  Result<Stmt> put = s->db_.Prepare("INSERT OR REPLACE INTO node VALUES(?, ?)");
  if (!put) return put.status();
  s->put_ = std::move(put.value());
  Result<Stmt> del = s->db_.Prepare("DELETE FROM node WHERE path = ?");
  if (!del) return del.status();
  s->del_ = std::move(del.value());
  return s;
}

std::optional<std::string> DocumentTree::Get(const std::string& path) const {
  auto it = docs_.find(path);
  if (it == docs_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> DocumentTree::Children(const std::string& path) const {
  std::string prefix = path == "/" ? "/" : path + "/";
  std::set<std::string> names;  // "/a/b-c" sorts between "/a/b" and "/a/b/d": dedupe with a set
  for (auto it = docs_.lower_bound(prefix); it != docs_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
       ++it) {
    names.insert(it->first.substr(prefix.size(), it->first.find('/', prefix.size()) - prefix.size()));
  }
  return {names.begin(), names.end()};
}

std::optional<std::string> SqliteNamespaceStore::Get(const std::string& path) const { return docs_.Get(path); }

std::vector<std::string> SqliteNamespaceStore::Children(const std::string& path) const { return docs_.Children(path); }

Status SqliteNamespaceStore::Commit(const std::vector<Write>& writes) {
  for (const Write& w : writes) {
    if (Status s = CheckNamespacePath(w.path); !s) return s;
    if (w.path == "/") return Status::Error("the root holds no document");
  }
  if (Status s = db_.Exec("BEGIN IMMEDIATE"); !s) return s;
  Status st;
  for (const Write& w : writes) {
    st = w.value ? put_.Bind(1, w.path).Bind(2, *w.value).Run() : del_.Bind(1, w.path).Run();
    if (!st) break;
  }
  if (st) st = db_.Exec("COMMIT");
  if (!st) {
    (void)db_.Exec("ROLLBACK");
    return st;
  }
  for (const Write& w : writes) {
    if (w.value) {
      docs_.Put(w.path, *w.value);
    } else {
      docs_.Erase(w.path);
    }
  }
  durable_ = ++committed_;
  return Status::Ok();
}

}  // namespace tailsafe
