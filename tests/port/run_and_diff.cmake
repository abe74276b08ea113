# Runs PROGRAM, saves its output as OUTPUT, and fails unless numeric_diff (DIFF) finds it equal to
# EXPECTED: numbers to RTOL, every other word exactly.
execute_process(COMMAND ${PROGRAM} OUTPUT_FILE ${OUTPUT} RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} exited with ${status}")
endif()
execute_process(COMMAND ${DIFF} ${EXPECTED} ${OUTPUT} ${RTOL} RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${PROGRAM}'s output differs from ${EXPECTED}")
endif()
