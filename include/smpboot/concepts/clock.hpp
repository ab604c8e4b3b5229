// The policy seam for time: timeouts while waiting for APs and the INIT/SIPI delays.
#pragma once

#include <stdint.h>

#include "../core/types.hpp"

namespace smpboot {

template <class T>
concept Clock = requires(T& c, uint64_t us) {
  { c.now_us() } noexcept -> SameAs<uint64_t>;  // monotonic microseconds since some epoch
  { c.delay_us(us) } noexcept -> SameAs<void>;  // at least `us` microseconds
};

// A point in time after which a wait gives up. Expiry is checked, never assumed.
template <Clock C>
class Deadline {
 public:
  Deadline(C& clock, uint64_t timeout_us) noexcept
      : clock_(&clock), expires_us_(clock.now_us() + timeout_us) {}
  bool expired() const noexcept { return clock_->now_us() >= expires_us_; }

 private:
  C* clock_;
  uint64_t expires_us_;
};

}  // namespace smpboot
