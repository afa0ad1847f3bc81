// Entry point of the integration test binary: suites that start real tailsafe processes.
#define BOOST_TEST_MODULE tailsafe_integration
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>
