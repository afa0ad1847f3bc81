// LockDataDir: one process per data directory (common/data_dir_lock.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/data_dir_lock.h"

using namespace tailsafe;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/tailsafe-lock-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(data_dir_lock)

BOOST_AUTO_TEST_CASE(the_first_holder_wins_and_the_second_is_told_its_pid) {
  TempDir tmp;
  std::string dir = tmp.path + "/data";  // created by the lock
  Result<Fd> first = LockDataDir(dir, "agent", "tailsafe-agent");
  BOOST_REQUIRE(first.ok());
  std::ifstream pid_file(dir + "/agent.lock");
  std::string pid;
  std::getline(pid_file, pid);
  BOOST_TEST(pid == std::to_string(::getpid()));
  Result<Fd> second = LockDataDir(dir, "agent", "tailsafe-agent");
  BOOST_REQUIRE(!second.ok());
  BOOST_TEST(second.status().message() ==
             "another tailsafe-agent (pid " + std::to_string(::getpid()) + ") is using data_dir " + dir);
  first = Result<Fd>(Status::Error("released"));  // closing the descriptor releases the lock
  BOOST_TEST(LockDataDir(dir, "agent", "tailsafe-agent").ok());
}

BOOST_AUTO_TEST_CASE(a_directory_that_cannot_be_created_is_named) {
  TempDir tmp;
  std::string file = tmp.path + "/plain";
  std::ofstream(file) << "x";
  Result<Fd> lock = LockDataDir(file + "/data", "agent", "tailsafe-agent");
  BOOST_REQUIRE(!lock.ok());
  BOOST_TEST(lock.status().message().find("create data_dir " + file + "/data") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
