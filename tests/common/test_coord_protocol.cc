// The coordinator protocol's helpers: bytes carried in a CONTROL message as hex (a pulled
// range's chunks, common/coord_protocol.h).
#include <boost/test/unit_test.hpp>

#include <string>

#include "common/coord_protocol.h"

using namespace tailsafe;

BOOST_AUTO_TEST_SUITE(coord_protocol)

BOOST_AUTO_TEST_CASE(bytes_round_trip_through_hex) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  std::string hex = HexEncode(all);
  BOOST_TEST(hex.size() == 512u);
  BOOST_TEST(hex.substr(0, 6) == "000102");
  BOOST_TEST(hex.substr(506) == "fdfeff");
  Result<std::string> back = HexDecode(hex);
  BOOST_REQUIRE(back.ok());
  BOOST_TEST(*back == all);
  BOOST_TEST(HexDecode("").ok());
  // It survives a CONTROL message: JSON carries only valid UTF-8 text.
  Result<nlohmann::json> msg = ParseControl(nlohmann::json{{"type", "shipped"}, {"data", hex}}.dump());
  BOOST_REQUIRE(msg.ok());
  BOOST_TEST(*HexDecode((*msg)["data"].get<std::string>()) == all);
}

BOOST_AUTO_TEST_CASE(bad_hex_is_refused_with_where) {
  BOOST_TEST(HexDecode("abc").status().message() == "hex data has an odd length, 3");
  BOOST_TEST(HexDecode("00zz").status().message() == "hex data has a bad digit at 2");
  BOOST_TEST(HexDecode("000G").status().message() == "hex data has a bad digit at 3");
  BOOST_TEST(HexDecode("AB").status().message() == "hex data has a bad digit at 0", "lower case only");
}

BOOST_AUTO_TEST_CASE(a_retain_plan_is_read_whole_or_refused_naming_the_item) {
  auto plan = ParseRetain(nlohmann::json::parse(
      R"({"type":"retain","term":3,"bolts":[{"origin":"h1","bolt":"b","from":4},{"origin":"h2","bolt":"b","from":1}]})"));
  BOOST_REQUIRE_MESSAGE(plan.ok(), plan.status().message());
  BOOST_TEST(plan->size() == 2u);
  BOOST_TEST(plan->at({"h1", "b"}) == 4u);
  auto empty = ParseRetain(nlohmann::json::parse(R"({"type":"retain","bolts":[]})"));
  BOOST_REQUIRE(empty.ok());
  BOOST_TEST(empty->empty());
  const std::pair<const char*, const char*> bad[] = {
      {R"({"type":"retain"})", "'bolts'"},
      {R"({"type":"retain","bolts":[7]})", "bolts[0]"},
      {R"({"type":"retain","bolts":[{"origin":"h1","bolt":"b","from":1},{"origin":"h1","bolt":"b"}]})", "bolts[1]"},
      {R"({"type":"retain","bolts":[{"origin":"h1","bolt":"b","from":-1}]})", "'from'"},
      {R"({"type":"retain","bolts":[{"origin":"../etc","bolt":"b","from":1}]})", "not a valid name"},
      {R"({"type":"retain","bolts":[{"origin":"h1","bolt":"","from":1}]})", "not a valid name"},
  };
  for (const auto& [text, named] : bad) {
    auto r = ParseRetain(nlohmann::json::parse(text));
    BOOST_TEST_CONTEXT(text) {
      BOOST_REQUIRE(!r.ok());
      BOOST_TEST(r.status().message().find(named) != std::string::npos, r.status().message());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
