// The coordinator's namespace store: path rules, children, atomic durable commits.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include "coordinator/namespace_store.h"
#include "tests/support/cluster.h"

using namespace tailsafe;

BOOST_AUTO_TEST_SUITE(namespace_store)

BOOST_AUTO_TEST_CASE(paths_are_checked_component_by_component) {
  BOOST_TEST(CheckNamespacePath("/").ok());
  BOOST_TEST(CheckNamespacePath("/agents/host-a").ok());
  BOOST_TEST(CheckNamespacePath("/bolts/host-a/bolt-1").ok());
  BOOST_TEST(CheckNamespacePath("agents").message() == "path 'agents' does not start with /");
  BOOST_TEST(CheckNamespacePath("/agents/").message() ==
             "path '/agents/': '' is not a valid name (letters, digits, '.', '_', '-')");
  BOOST_TEST(CheckNamespacePath("/agents/../x").message() ==
             "path '/agents/../x': '..' is not a valid name (letters, digits, '.', '_', '-')");
  BOOST_TEST(CheckNamespacePath("//x").message() ==
             "path '//x': '' is not a valid name (letters, digits, '.', '_', '-')");
  BOOST_TEST(!CheckNamespacePath("/a b").ok());
}

BOOST_AUTO_TEST_CASE(documents_children_and_reopen) {
  std::string dir = testing::MakeTempDir("ns");
  std::string db = dir + "/namespace.db";
  {
    auto s = SqliteNamespaceStore::Open(db);
    BOOST_REQUIRE_MESSAGE(s.ok(), s.status().message());
    BOOST_REQUIRE((*s)->Commit({{"/agents/h1", "{\"alive\":true}"},
                                {"/agents/h1-x", "{}"},
                                {"/agents/h10", "{}"},
                                {"/bolts/h1/bolt-1", "{\"state\":\"running\"}"},
                                {"/recoveries/1", "{}"}})
                      .ok());
    BOOST_REQUIRE((*s)->Commit({{"/agents/h1/extra", "{}"}, {"/agents/h10", std::nullopt}}).ok());
    // One bad path refuses the whole commit.
    Status bad = (*s)->Commit({{"/agents/h2", "{}"}, {"/agents/no good", "{}"}});
    BOOST_TEST(!bad.ok());
    BOOST_TEST(!(*s)->Get("/agents/h2").has_value());
    BOOST_TEST(!(*s)->Commit({{"/", "{}"}}).ok());
  }
  auto s = SqliteNamespaceStore::Open(db);
  BOOST_REQUIRE(s.ok());
  BOOST_TEST(*(*s)->Get("/agents/h1") == "{\"alive\":true}");
  BOOST_TEST(!(*s)->Get("/agents/h10").has_value());
  BOOST_TEST(!(*s)->Get("/agents").has_value());  // an inner node holds no document
  std::vector<std::string> root = (*s)->Children("/");
  BOOST_TEST((root == std::vector<std::string>{"agents", "bolts", "recoveries"}));
  std::vector<std::string> agents = (*s)->Children("/agents");
  BOOST_TEST((agents == std::vector<std::string>{"h1", "h1-x"}));
  BOOST_TEST(((*s)->Children("/agents/h1") == std::vector<std::string>{"extra"}));
  BOOST_TEST(((*s)->Children("/bolts") == std::vector<std::string>{"h1"}));
  BOOST_TEST((*s)->Children("/nothing").empty());
  testing::RemoveTree(dir);
}

BOOST_AUTO_TEST_SUITE_END()
