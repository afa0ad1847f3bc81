// Entry point of the unit test binary; each tests/<area>/test_<file>.cc adds one suite.
#define BOOST_TEST_MODULE tailsafe_unit
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>
