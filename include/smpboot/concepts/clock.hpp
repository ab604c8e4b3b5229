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
  // A timeout too long to represent saturates: it never expires early by wrapping around.
  Deadline(C& clock, uint64_t timeout_us) noexcept : clock_(&clock) {
    const uint64_t now = clock.now_us();
    expires_us_ = timeout_us > ~uint64_t{0} - now ? ~uint64_t{0} : now + timeout_us;
  }
  bool expired() const noexcept {
    return expires_us_ != ~uint64_t{0} && clock_->now_us() >= expires_us_;
  }

 private:
  C* clock_;
  uint64_t expires_us_;
};

}  // namespace smpboot
