#include "tests/support/postgres_server.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <postgresql/libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>

#include "tests/support/process.h"

namespace tailsafe::testing {

namespace {

constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";
constexpr const char* kUser = "postgres";
// The socket's name only (no TCP): every server has a directory of its own.
constexpr int kPort = 5432;

struct Identity {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Who the server runs as: `postgres` when we are root, else ourselves.
Result<Identity> ServerIdentity() {
  Identity id;
  if (::geteuid() != 0) return id;
  struct passwd* pw = ::getpwnam(kUser);
  if (pw == nullptr) return Status::Error("there is no '" + std::string(kUser) + "' user to run PostgreSQL as (it refuses root)");
  id.switch_user = true;
  id.uid = pw->pw_uid;
  id.gid = pw->pw_gid;
  return id;
}

// Forks argv as `id`, its output appended to `log`, dying with this process. Returns the pid.
Result<pid_t> SpawnAs(const Identity& id, const std::vector<std::string>& argv, const std::string& log,
                      const std::string& cwd) {
  int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) return ErrnoStatus("open " + log);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    Status s = ErrnoStatus("fork");
    ::close(out);
    return s;
  }
  if (pid == 0) {
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    if (id.switch_user && (::setgroups(0, nullptr) != 0 || ::setgid(id.gid) != 0 || ::setuid(id.uid) != 0)) {
      dprintf(STDERR_FILENO, "switching to user %s: %s\n", kUser, strerror(errno));
      _exit(127);
    }
    // After the switch: a change of credentials clears the parent-death signal.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(127);
    if (::chdir(cwd.c_str()) != 0) {
      dprintf(STDERR_FILENO, "chdir %s: %s\n", cwd.c_str(), strerror(errno));
      _exit(127);
    }
    ::execv(args[0], args.data());
    dprintf(STDERR_FILENO, "exec %s: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  ::close(out);
  return pid;
}

std::string Tail(const std::string& path, size_t bytes) {
  std::string all = ReadAll(path);
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

// Directories of servers that died with a killed test run: no live postmaster, and old enough
// that no initdb can still be filling them.
void RemoveStaleServers() {
  const char* base = std::getenv("TMPDIR");
  std::string dir = base && *base ? base : "/var/tmp";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strncmp(e->d_name, "tailsafe-postgres-", 18) != 0) continue;
    std::string path = dir + "/" + e->d_name;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || std::time(nullptr) - st.st_mtime < 600) continue;
    std::string pid_line = ReadAll(path + "/data/postmaster.pid");
    pid_t pid = static_cast<pid_t>(std::atoi(pid_line.c_str()));
    if (pid > 0 && ::kill(pid, 0) == 0) continue;
    RemoveTree(path);
  }
  ::closedir(d);
}

struct ConnFree {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultFree {
  void operator()(PGresult* r) const { PQclear(r); }
};

}  // namespace

std::string PostgresMissing() {
  for (const char* bin : {"initdb", "postgres"}) {
    std::string path = std::string(kBinDir) + "/" + bin;
    if (::access(path.c_str(), X_OK) != 0)
      return path + " is missing (make deps installs Debian's postgresql package)";
  }
  auto id = ServerIdentity();
  if (!id.ok()) return id.status().message() + " (make deps installs Debian's postgresql package, which adds it)";
  return "";
}

Result<std::unique_ptr<PostgresServer>> PostgresServer::Start(const std::string& name) {
  if (std::string missing = PostgresMissing(); !missing.empty()) return Status::Error(missing);
  auto id = ServerIdentity();
  if (!id.ok()) return id.status();
  RemoveStaleServers();
  std::unique_ptr<PostgresServer> s(new PostgresServer());
  const std::string& dir = s->dir_.path;
  if (dir.empty()) return Status::Error("cannot make a temporary directory for PostgreSQL " + name);
  if (id->switch_user && ::chown(dir.c_str(), id->uid, id->gid) != 0) return ErrnoStatus("chown " + dir);
  std::string log = dir + "/server.log";
  auto initdb = SpawnAs(*id,
                        {std::string(kBinDir) + "/initdb", "-D", dir + "/data", "-U", kUser, "--auth=trust", "-E", "UTF8",
                         "--locale=C", "--no-sync", "--no-instructions"},
                        dir + "/initdb.log", dir);
  if (!initdb.ok()) return initdb.status();
  int status = 0;
  while (::waitpid(*initdb, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Status::Error("initdb for PostgreSQL " + name + " failed: " + Tail(dir + "/initdb.log", 2000));
  auto server = SpawnAs(*id,
                        {std::string(kBinDir) + "/postgres", "-D", dir + "/data", "-k", dir, "-p", std::to_string(kPort),
                         "-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c",
                         "full_page_writes=off", "-c", "shared_buffers=16MB", "-c", "max_connections=100"},
                        log, dir);
  if (!server.ok()) return server.status();
  s->pid_ = *server;
  std::string uri = s->Uri("postgres");
  bool up = WaitUntil([&] {
    if (PQping(uri.c_str()) == PQPING_OK) return true;
    int st = 0;
    if (::waitpid(s->pid_, &st, WNOHANG) == s->pid_) s->pid_ = -1;
    return s->pid_ < 0;
  }, 60, 50);
  if (!up || s->pid_ < 0)
    return Status::Error("PostgreSQL " + name + " did not start accepting connections within 60 s: " + s->LogTail(2000));
  return s;
}

PostgresServer::~PostgresServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGQUIT);  // immediate shutdown: nothing here is kept
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
}

std::string PostgresServer::Uri(const std::string& db) const {
  return "postgresql:///" + db + "?host=" + dir_.path + "&port=" + std::to_string(kPort) + "&user=" + kUser;
}

Result<std::string> PostgresServer::NewDatabase(const std::string& name) {
  std::string db;
  for (char c : name) db += (std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_');
  db = db.substr(0, 40) + "_" + std::to_string(::getpid()) + "_" + std::to_string(++databases_);
  auto r = PgQuery(Uri("postgres"), "CREATE DATABASE " + db);
  if (!r.ok()) return r.status();
  return Uri(db);
}

std::string PostgresServer::LogTail(size_t bytes) const { return Tail(dir_.path + "/server.log", bytes); }

PostgresServer* SharedPostgres(std::string* why) {
  static std::unique_ptr<PostgresServer> server;
  static std::string error;
  static bool tried = false;
  if (!tried) {
    tried = true;
    auto s = PostgresServer::Start("shared");
    if (s.ok()) {
      server = std::move(*s);
    } else {
      error = s.status().message();
    }
  }
  if (!server && why != nullptr) *why = error;
  return server.get();
}

Result<std::vector<std::vector<std::string>>> PgQuery(const std::string& uri, const std::string& sql) {
  std::unique_ptr<PGconn, ConnFree> conn(PQconnectdb(uri.c_str()));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK)
    return Status::Error(uri + ": " + (conn ? PQerrorMessage(conn.get()) : "out of memory"));
  std::unique_ptr<PGresult, ResultFree> r(PQexec(conn.get(), sql.c_str()));
  ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    return Status::Error(sql.substr(0, 200) + ": " + (r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn.get())));
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    rows.emplace_back();
    for (int j = 0; j < PQnfields(r.get()); ++j) rows.back().push_back(PQgetvalue(r.get(), i, j));
  }
  return rows;
}

}  // namespace tailsafe::testing
