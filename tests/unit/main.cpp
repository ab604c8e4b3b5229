// The doctest runner for the unit tests: every tests/unit/test_*.cpp links against this one main.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
