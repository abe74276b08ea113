// dydx::distributed: tensors across processes over MPI (an optional component; link dydx::distributed).
// Start the processes with mpirun; see README.md, "Distributed".
#pragma once

#include "dydx/distributed/collectives.hpp"
#include "dydx/distributed/data_parallel.hpp"
#include "dydx/distributed/environment.hpp"
#include "dydx/distributed/sharding.hpp"
