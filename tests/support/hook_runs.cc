#include "tests/support/hook_runs.h"

#include <dirent.h>

#include <sstream>

namespace tailsafe::testing {

std::vector<HookRun> HookRuns(const TestCluster& c) {
  std::vector<HookRun> runs;
  for (int i = 0; i < c.size(); ++i) {
    DIR* d = ::opendir(c.HookDir(i).c_str());
    if (d == nullptr) continue;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() < 5 || n.compare(n.size() - 4, 4, ".env") != 0 || n[0] != 'r') continue;
      HookRun r;
      r.agent = i;
      r.name = n.substr(0, n.size() - 4);
      std::istringstream env(ReadAll(c.HookDir(i) + "/" + n));
      for (std::string line; std::getline(env, line);) {
        if (line.rfind("UNEXPECTED ", 0) == 0) {
          r.unexpected.push_back(line);
          continue;
        }
        auto eq = line.find('=');
        if (eq != std::string::npos) r.env[line.substr(0, eq)] = line.substr(eq + 1);
      }
      r.input = ReadAll(c.HookDir(i) + "/" + r.name + ".in");
      runs.push_back(std::move(r));
    }
    ::closedir(d);
  }
  return runs;
}

}  // namespace tailsafe::testing
