// The open-files limit plan (common/open_files_limit.h): raise the soft limit to the hard one,
// never past fs.nr_open, and say when even that is short of what the bolts need.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <sys/resource.h>

#include "common/open_files_limit.h"

using namespace tailsafe;

BOOST_AUTO_TEST_SUITE(open_files_limit)

BOOST_AUTO_TEST_CASE(a_soft_limit_below_the_hard_one_is_raised_to_it) {
  OpenFilesPlan p = PlanOpenFilesLimit(1024, 524288, 1048576, OpenFilesNeeded(1000));
  BOOST_TEST(p.raise);
  BOOST_TEST(p.soft == 524288u);
  BOOST_TEST(!p.short_of_need);
  BOOST_TEST(p.note == "open files: soft limit raised from 1024 to 524288 (the hard limit)");
}

BOOST_AUTO_TEST_CASE(a_soft_limit_at_the_hard_one_changes_nothing) {
  OpenFilesPlan p = PlanOpenFilesLimit(20000, 20000, 1048576, OpenFilesNeeded(10));
  BOOST_TEST(!p.raise);
  BOOST_TEST(p.soft == 20000u);
  BOOST_TEST(p.note.empty());
}

BOOST_AUTO_TEST_CASE(an_unlimited_hard_limit_stops_at_nr_open) {
  OpenFilesPlan p = PlanOpenFilesLimit(1024, RLIM_INFINITY, 1048576, 300);
  BOOST_TEST(p.raise);
  BOOST_TEST(p.soft == 1048576u);
  BOOST_TEST(p.note == "open files: soft limit raised from 1024 to 1048576 (fs.nr_open)");
}

BOOST_AUTO_TEST_CASE(a_hard_limit_short_of_the_bolts_needs_is_a_warning) {
  OpenFilesPlan raised = PlanOpenFilesLimit(1024, 2048, 1048576, OpenFilesNeeded(1000));
  BOOST_TEST(raised.raise);
  BOOST_TEST(raised.soft == 2048u);
  BOOST_TEST(raised.short_of_need);
  BOOST_TEST(raised.note == "open files: soft limit raised from 1024 to 2048 (the hard limit), still below the 3256 "
                            "descriptors the configured bolts need; raise the hard limit (LimitNOFILE= in the "
                            "service, or limits.conf)");
  OpenFilesPlan stuck = PlanOpenFilesLimit(1024, 1024, 1048576, OpenFilesNeeded(1000));
  BOOST_TEST(!stuck.raise);
  BOOST_TEST(stuck.note == "open files: the limit of 1024 is below the 3256 descriptors the configured bolts need; "
                           "raise the hard limit (LimitNOFILE= in the service, or limits.conf)");
}

BOOST_AUTO_TEST_SUITE_END()
