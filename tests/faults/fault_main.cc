// Entry point of the fault suite's binary (make faults): tests/faults/.
#define BOOST_TEST_MODULE tailsafe_faults
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>
