#include "agent/replica_sync.h"

#include <sys/stat.h>
#include <unistd.h>

#include <map>

namespace tailsafe {

std::vector<SyncStep> PlanSync(const std::vector<uint64_t>& devs, uint32_t syncfs_files) {
  std::map<uint64_t, size_t> count;
  for (uint64_t d : devs) ++count[d];
  std::vector<SyncStep> steps;
  std::map<uint64_t, size_t> step_of;  // device -> its syncfs step
  SyncStep each;
  for (size_t i = 0; i < devs.size(); ++i) {
    uint64_t d = devs[i];
    if (syncfs_files == 0 || d == kUnknownDevice || count[d] < syncfs_files) {
      each.files.push_back(i);
      continue;
    }
    auto [it, fresh] = step_of.try_emplace(d, steps.size());
    if (fresh) steps.push_back(SyncStep{true, {}});
    steps[it->second].files.push_back(i);
  }
  if (!each.files.empty()) steps.push_back(std::move(each));
  return steps;
}

namespace {

Status SyncEach(const std::vector<std::shared_ptr<Fd>>& fds, const std::vector<size_t>& files) {
  for (size_t i : files) {
    if (::fdatasync(fds[i]->get()) != 0) return ErrnoStatus("fdatasync of a replica file");
  }
  return Status::Ok();
}

}  // namespace

Status SyncFiles(const std::vector<std::shared_ptr<Fd>>& fds, uint32_t syncfs_files, SyncCounts* counts) {
  std::vector<uint64_t> devs(fds.size(), kUnknownDevice);
  if (syncfs_files > 0 && fds.size() >= syncfs_files) {
    for (size_t i = 0; i < fds.size(); ++i) {
      struct stat st;
      if (::fstat(fds[i]->get(), &st) == 0) devs[i] = static_cast<uint64_t>(st.st_dev);
    }
  }
  for (const SyncStep& step : PlanSync(devs, syncfs_files)) {
    if (step.syncfs) {
      if (::syncfs(fds[step.files.front()]->get()) == 0) {
        ++counts->filesystem_syncs;
        continue;
      }
      ++counts->syncfs_fallbacks;
    }
    if (Status s = SyncEach(fds, step.files); !s) return s;
  }
  return Status::Ok();
}

}  // namespace tailsafe
