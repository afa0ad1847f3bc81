// ts-hook: a recovery hook for tests and benchmarks. It records what it was given.
//
//   ts-hook OUTDIR [--fail N] [--hold FILE]
//
// Notes its start time (CLOCK_REALTIME), reads its whole standard input and writes, under OUTDIR,
//   r<RECOVERY>-e<EPOCH>-a<ATTEMPT>.in    the bytes it read
//   r<RECOVERY>-e<EPOCH>-a<ATTEMPT>.env   TAILSAFE_* variables and START_UNIX_NS, one per line,
//                                         then what it inherited: HOOK_FDS (its open descriptors),
//                                         HOOK_OWN_SESSION, HOOK_UID, HOOK_GID, HOOK_GROUPS, and of
//                                         descriptor 3 (the generation): HOOK_FD3_MODE (r, w or
//                                         rw) and HOOK_FD3_HEAD (its first line, read with pread)
// each written to a temporary name and renamed, so a file that exists is complete. ATTEMPT
// counts the runs of this recovery under this OUTDIR. `--fail N` exits 1 on the first N runs of
// each recovery (after recording them); `--hold FILE` writes OUTDIR/holding-r<RECOVERY>-e<EPOCH>
// and then waits until FILE exists (at most 10 minutes) before it records and exits.
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string Env(const char* name) {
  const char* v = getenv(name);
  return v ? v : "";
}

bool WriteFile(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << data;
    if (!out) return false;
  }
  return rename(tmp.c_str(), path.c_str()) == 0;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  unsigned long long start_ns = static_cast<unsigned long long>(ts.tv_sec) * 1000000000ULL + ts.tv_nsec;
  if (argc < 2) {
    fprintf(stderr, "usage: ts-hook OUTDIR [--fail N] [--hold FILE]\n");
    return 2;
  }
  std::string dir = argv[1];
  int fail = 0;
  std::string hold;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--fail" && i + 1 < argc) {
      fail = atoi(argv[++i]);
    } else if (a == "--hold" && i + 1 < argc) {
      hold = argv[++i];
    } else {
      fprintf(stderr, "ts-hook: unknown argument '%s'\n", a.c_str());
      return 2;
    }
  }
  // What the hook inherited, read before it opens anything itself: its descriptors, its session,
  // its user and groups.
  std::string fds;
  if (DIR* d = opendir("/proc/self/fd")) {
    std::vector<int> open_fds;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) open_fds.push_back(atoi(e->d_name));
    }
    closedir(d);
    std::sort(open_fds.begin(), open_fds.end());
    for (int fd : open_fds) fds += (fds.empty() ? "" : ",") + std::to_string(fd);
  }
  std::string fd3_mode = "none", fd3_head;
  if (int fl = fcntl(3, F_GETFL); fl >= 0) {
    int acc = fl & O_ACCMODE;
    fd3_mode = acc == O_RDONLY ? "r" : acc == O_WRONLY ? "w" : "rw";
    char buf[4096];
    ssize_t n = pread(3, buf, sizeof buf, 0);
    if (n > 0) fd3_head.assign(buf, static_cast<size_t>(n));
    fd3_head = fd3_head.substr(0, fd3_head.find('\n'));
  }
  std::string identity = "HOOK_FD3_MODE=" + fd3_mode + "\nHOOK_FD3_HEAD=" + fd3_head + "\nHOOK_FDS=" + fds + "\nHOOK_OWN_SESSION=" + (getsid(0) == getpid() ? "1" : "0") +
                         "\nHOOK_UID=" + std::to_string(getuid()) + "\nHOOK_GID=" + std::to_string(getgid()) +
                         "\nHOOK_GROUPS=" + std::to_string(getgroups(0, nullptr)) + "\n";
  mkdir(dir.c_str(), 0755);
  std::string rec = Env("TAILSAFE_RECOVERY"), epoch = Env("TAILSAFE_EPOCH");
  std::string counter = dir + "/attempts-r" + rec;
  int attempt = 1;
  {
    std::ifstream in(counter);
    if (in >> attempt) ++attempt;
  }
  WriteFile(counter, std::to_string(attempt) + "\n");
  std::string base = dir + "/r" + rec + "-e" + epoch + "-a" + std::to_string(attempt);
  if (!hold.empty()) {
    WriteFile(dir + "/holding-r" + rec + "-e" + epoch, "");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
    while (!Exists(hold) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  std::ostringstream input;
  input << std::cin.rdbuf();
  std::ostringstream env;
  for (const char* name : {"TAILSAFE_BOLT", "TAILSAFE_ORIGIN", "TAILSAFE_GENERATION", "TAILSAFE_FROM", "TAILSAFE_TO",
                           "TAILSAFE_EPOCH", "TAILSAFE_RECOVERY", "PATH"}) {
    env << name << "=" << Env(name) << "\n";
  }
  env << "START_UNIX_NS=" << start_ns << "\n" << identity;
  // Anything else in the environment is a leak from the agent's.
  for (char** e = environ; *e != nullptr; ++e) {
    if (strncmp(*e, "TAILSAFE_", 9) != 0 && strncmp(*e, "PATH=", 5) != 0) env << "UNEXPECTED " << *e << "\n";
  }
  if (!WriteFile(base + ".in", input.str()) || !WriteFile(base + ".env", env.str())) {
    fprintf(stderr, "ts-hook: cannot write under %s\n", dir.c_str());
    return 1;
  }
  return attempt <= fail ? 1 : 0;
}
