#include "common/proc_events.h"

#include <dirent.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/process.h"

namespace tailsafe {

Result<ProcEventSocket> ProcEventSocket::Open() {
  Fd fd(::socket(PF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR));
  if (!fd) return ErrnoStatus("netlink connector socket");
  struct sockaddr_nl sa = {};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = CN_IDX_PROC;
  sa.nl_pid = 0;  // the kernel picks a unique port id
  if (::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) != 0) {
    int e = errno;
    return Status::Error(std::string("cannot subscribe to process events: bind: ") + strerror(e) +
                         (e == EPERM ? " (needs CAP_NET_ADMIN)" : ""));
  }
  // nlmsghdr, then cn_msg, then the operation, packed (cn_msg ends in a flexible array).
  constexpr size_t kLen = NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof(enum proc_cn_mcast_op));
  alignas(struct nlmsghdr) char msg[kLen] = {};
  auto* hdr = reinterpret_cast<struct nlmsghdr*>(msg);
  hdr->nlmsg_len = kLen;
  hdr->nlmsg_type = NLMSG_DONE;
  auto* cn = static_cast<struct cn_msg*>(NLMSG_DATA(hdr));
  cn->id.idx = CN_IDX_PROC;
  cn->id.val = CN_VAL_PROC;
  cn->len = sizeof(enum proc_cn_mcast_op);
  enum proc_cn_mcast_op op = PROC_CN_MCAST_LISTEN;
  std::memcpy(cn->data, &op, sizeof op);
  if (::send(fd.get(), msg, sizeof msg, 0) < 0) {
    int e = errno;
    return Status::Error(std::string("cannot subscribe to process events: ") + strerror(e) +
                         (e == EPERM ? " (needs CAP_NET_ADMIN)" : ""));
  }
  ProcEventSocket s;
  s.fd_ = std::move(fd);
  return s;
}

void ProcEventSocket::Drain(std::vector<pid_t>* execs, bool* overflow) {
  alignas(struct nlmsghdr) char buf[8192];
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        *overflow = true;
        continue;
      }
      return;  // EAGAIN: drained
    }
    if (n == 0) return;
    size_t len = static_cast<size_t>(n);
    for (auto* h = reinterpret_cast<struct nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_NOOP || h->nlmsg_type == NLMSG_ERROR) continue;
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof(struct proc_event))) continue;
      auto* cn = static_cast<struct cn_msg*>(NLMSG_DATA(h));
      if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC) continue;
      // The event sits 36 bytes into the message: copy it out rather than read it misaligned.
      struct proc_event ev;
      std::memcpy(&ev, cn->data, sizeof ev);
      if (ev.what == proc_event::PROC_EVENT_EXEC) execs->push_back(ev.event_data.exec.process_tgid);
    }
  }
}

std::vector<pid_t> ListProcesses() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && pid > 0) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return out;
}

bool ProcessMatches(pid_t pid, const std::string& exe, const std::string& arg) {
  auto actual = ProcessExe(pid);
  if (!actual) return false;
  std::string path = *actual;
  const std::string deleted = " (deleted)";  // the binary was replaced on disk: still the bolt
  if (path.size() > deleted.size() && path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0) {
    path.resize(path.size() - deleted.size());
  }
  if (path != exe) return false;
  if (arg.empty()) return true;
  auto cmdline = ProcessCmdline(pid);
  if (!cmdline) return false;
  const std::string& c = *cmdline;
  size_t start = c.find('\0');  // skip the program name
  while (start != std::string::npos && start + 1 < c.size()) {
    size_t end = c.find('\0', start + 1);
    std::string_view a(c.data() + start + 1, (end == std::string::npos ? c.size() : end) - start - 1);
    if (a == arg) return true;
    start = end;
  }
  return false;
}

}  // namespace tailsafe
