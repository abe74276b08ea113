# Runs fault_check in MODE under mpirun and requires the job to fail (nonzero exit) within MAX_SECONDS,
# with EXPECT in its output. Arguments: MPIEXEC, NP, PROGRAM, MODE, MAX_SECONDS, EXPECT.
string(TIMESTAMP start "%s" UTC)
execute_process(COMMAND ${MPIEXEC} -np ${NP} --oversubscribe ${PROGRAM} ${MODE}
  RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 100)
string(TIMESTAMP end "%s" UTC)
math(EXPR seconds "${end} - ${start}")
message("fault_check ${MODE}: exit ${code} after ${seconds} s\n${out}${err}")
if(code EQUAL 0)
  message(FATAL_ERROR "the job succeeded although rank 1 failed")
endif()
if(seconds GREATER MAX_SECONDS)
  message(FATAL_ERROR "the job took ${seconds} s to end; at most ${MAX_SECONDS} s allowed")
endif()
string(FIND "${out}${err}" "${EXPECT}" found)
if(found EQUAL -1)
  message(FATAL_ERROR "the output does not say: ${EXPECT}")
endif()
