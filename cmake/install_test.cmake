# The README's install commands, on a fresh build tree that built nothing:
#   cmake -S <source> -B <work>/b && cmake --install <work>/b --prefix <work>/prefix
# must install the header and the CMake package without failing on the plugins it did not
# build; then a third-party plugin that only knows find_package(slipstream) builds against
# that prefix and loads (its check program dlopens it).
# Inputs: SOURCE_DIR, WORK_DIR, CONSUMER_DIR, GENERATOR, C_COMPILER.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

include(${CMAKE_CURRENT_LIST_DIR}/run_checked.cmake)

set(prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/b -G ${GENERATOR} -DCMAKE_C_COMPILER=${C_COMPILER})
run(${CMAKE_COMMAND} --install ${WORK_DIR}/b --prefix ${prefix})

file(GLOB_RECURSE config_files ${prefix}/*/slipstreamConfig.cmake)
file(GLOB_RECURSE version_files ${prefix}/*/slipstreamConfigVersion.cmake)
file(GLOB_RECURSE target_files ${prefix}/*/slipstreamTargets.cmake)
if(NOT EXISTS ${prefix}/include/slipstream.h OR NOT config_files OR NOT version_files OR NOT target_files)
  file(GLOB_RECURSE installed RELATIVE ${prefix} ${prefix}/*)
  message(FATAL_ERROR "the header or the CMake package was not installed; installed: ${installed}")
endif()
file(GLOB_RECURSE plugins ${prefix}/*/slipstream/lib*)
if(plugins)
  message(FATAL_ERROR "plugins installed from a tree that built none: ${plugins}")
endif()

run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/consumer -G ${GENERATOR}
    -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON -DEXPECTED_PREFIX=${prefix})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer)
run(${WORK_DIR}/consumer/check_plugin)
