// The runs of tests/tools/ts-hook in a TestCluster, as each recorded itself under its agent's
// HookDir: the recovery, epoch and attempt (its name), its standard input and environment.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tests/support/cluster.h"

namespace tailsafe::testing {

struct HookRun {
  int agent = -1;
  std::string name;  // r<RECOVERY>-e<EPOCH>-a<ATTEMPT>
  std::string input;
  std::map<std::string, std::string> env;
  std::vector<std::string> unexpected;
};

std::vector<HookRun> HookRuns(const TestCluster& c);

}  // namespace tailsafe::testing
