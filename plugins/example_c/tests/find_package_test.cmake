# Installs the slipstream build tree into a scratch prefix, then configures and builds a
# third-party plugin that only knows `find_package(slipstream)`, and runs its check program
# (which dlopens the plugin and checks slipstream_abi_version).
# Inputs: SLIPSTREAM_BUILD_DIR, WORK_DIR, PROJECT_DIR, GENERATOR, C_COMPILER.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

include(${CMAKE_CURRENT_LIST_DIR}/../../../cmake/run_checked.cmake)

run(${CMAKE_COMMAND} --install ${SLIPSTREAM_BUILD_DIR} --prefix ${WORK_DIR}/install)
if(NOT EXISTS ${WORK_DIR}/install/include/slipstream.h)
  message(FATAL_ERROR "slipstream.h was not installed")
endif()
run(${CMAKE_COMMAND} -S ${PROJECT_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_PREFIX_PATH=${WORK_DIR}/install
    -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON -DEXPECTED_PREFIX=${WORK_DIR}/install)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/check_plugin)
