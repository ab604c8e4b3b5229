// The policy seam for passing time while one CPU waits for another: the BSP waiting for woken
// APs to come online (bring_up_aps, bring_online) and a controller waiting for a CPU to park
// (wait_offline). wait() is called in a loop between checks of another CPU's boot record, on
// the waiting CPU, in kernel context. Under emulation it must sleep (hlt until an interrupt),
// not spin: a spinning vCPU can starve the very vCPU it waits for.
#pragma once

#include "../core/types.hpp"

namespace smpboot {

// wait() returns after an interrupt or a short while; the caller re-checks and keeps the
// deadline, so a wait() that returns early is always safe.
template <class T>
concept Waiter = requires(T& w) {
  { w.wait() } noexcept -> SameAs<void>;
};

}  // namespace smpboot
