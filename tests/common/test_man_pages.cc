// The man pages cover the code: every configuration key the parser knows appears in
// tailsafe.conf(5). (Every command-line option appearing in its page is checked against the
// binaries' --help in tests/integration/test_cli.cc.) Pages are read from man/ under
// TAILSAFE_SOURCE_DIR, or the working directory, which `make test` sets to the checkout.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <fstream>
#include <string>

#include "common/config.h"
#include "tests/support/cluster.h"

using namespace tailsafe;

namespace {

// Every table present, both forms of a hook, a bolt of each kind and a bolt pattern: the parser
// looks up every key.
constexpr std::string_view kEveryTable = R"([cluster]
name = "c"
coordinator = "127.0.0.1:7400"
key_file = "/etc/tailsafe/cluster.key"
previous_key_files = []

[coordinator]
listen = "127.0.0.1:7400"
state_dir = "/var/lib/tailsafe/coordinator"

[agent]
id = "a"
listen = "127.0.0.1:7401"
data_dir = "/var/lib/tailsafe/agent"

[hooks]
plain = ["/bin/true"]
table = { command = ["/bin/true"], user = "nobody" }

[[bolt]]
name = "b1"
file = "/var/spool/b1.log"
pid_file = "/run/b1.pid"
checkpoint_file = "/var/spool/b1.ckpt"
hook = "plain"

[[bolt]]
name = "b2"
file = "/var/spool/b2.log"
match = { exe = "/usr/bin/b", arg = "b2" }

[[bolt_pattern]]
files = "/var/spool/tailsafe-storm/*/*/task-*.log"
hook = "plain"
)";

std::string ManPage(const std::string& name) {
  const char* dir = std::getenv("TAILSAFE_SOURCE_DIR");
  return testing::ReadAll(std::string(dir ? dir : ".") + "/man/" + name);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(man_pages)

BOOST_AUTO_TEST_CASE(every_config_key_is_in_tailsafe_conf_5) {
  std::string page = ManPage("tailsafe.conf.5");
  BOOST_REQUIRE_MESSAGE(!page.empty(), "man/tailsafe.conf.5 not found; run from the checkout or set TAILSAFE_SOURCE_DIR");
  std::set<std::string> keys = ConfigKeysRead(kEveryTable);
  BOOST_TEST(keys.size() > 30u, "the parser looked up only " << keys.size() << " keys");
  for (const std::string& key : keys) {
    // Tables are named as [name] or [[bolt]]; keys as themselves (mdoc: .Cm key).
    bool found = page.find("Cm " + key) != std::string::npos || page.find("[" + key + "]") != std::string::npos ||
                 page.find("[[" + key + "]]") != std::string::npos;
    BOOST_TEST(found, "tailsafe.conf(5) does not describe '" << key << "'");
  }
}

BOOST_AUTO_TEST_SUITE_END()
