# `cmake --install` lays out:
#   bin/recur                              the command-line program
#   include/recur/{core,backends,autograd,nn,optim}/...   the public headers, included as "core/tensor.h"
#   include/recur/recur/config.h           the generated build configuration
#   lib/librecur_*.a                       one static library per folder
#   lib/cmake/recur/                       recurConfig.cmake: find_package(recur) -> recur::recur
#
# recur_warnings and recur_native are build-only helpers linked as $<BUILD_INTERFACE:...>, so
# the export drops them. What the static libraries link privately is exported as
# $<LINK_ONLY:...>; recurConfig.cmake finds those packages again (or recreates the imported
# targets recur_cudnn / recur_dnnl) before it loads the exported targets.
include(CMakePackageConfigHelpers)

set(RECUR_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/recur)
set(RECUR_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/recur)

install(TARGETS recur recur_core recur_backends recur_autograd recur_nn recur_optim
  EXPORT recurTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

if(TARGET recur_cli)
  install(TARGETS recur_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# The public headers only: core, autograd, nn and optim, and the backend interface
# (backends/*.h: the Backend and RNN kernel interfaces, op codes, runtime settings). The CPU and
# CUDA backends' own headers (backends/cpu/, backends/cuda/: cblas.h, cudnn.h, ...) stay in the
# build tree, so that an installed header never needs CUDA, cuDNN, OpenBLAS or oneDNN headers
# (tests/consumer compiles every installed header on its own, with no CUDA include path).
foreach(folder core autograd nn optim)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${folder}/
    DESTINATION ${RECUR_INSTALL_INCLUDEDIR}/${folder}
    FILES_MATCHING PATTERN "*.h")
endforeach()
file(GLOB RECUR_BACKEND_PUBLIC_HEADERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/backends/*.h)
install(FILES ${RECUR_BACKEND_PUBLIC_HEADERS} DESTINATION ${RECUR_INSTALL_INCLUDEDIR}/backends)
install(FILES ${PROJECT_BINARY_DIR}/generated/recur/config.h DESTINATION ${RECUR_INSTALL_INCLUDEDIR}/recur)

install(EXPORT recurTargets
  NAMESPACE recur::
  FILE recurTargets.cmake
  DESTINATION ${RECUR_INSTALL_CMAKEDIR})

# What recurConfig.cmake needs to know about this build's optional dependencies.
set(RECUR_CONFIG_DNNL_MODE "")
if(RECUR_HAVE_ONEDNN)
  set(RECUR_CONFIG_DNNL_MODE "library")
endif()
set(RECUR_CONFIG_CUDA_ROOT "")
if(RECUR_HAVE_CUDA)
  set(RECUR_CONFIG_CUDA_ROOT "${CUDAToolkit_LIBRARY_ROOT}")
endif()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/recurConfig.cmake.in
  ${PROJECT_BINARY_DIR}/recurConfig.cmake
  INSTALL_DESTINATION ${RECUR_INSTALL_CMAKEDIR})
# 0.x: a minor version may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/recurConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/recurConfig.cmake ${PROJECT_BINARY_DIR}/recurConfigVersion.cmake
  DESTINATION ${RECUR_INSTALL_CMAKEDIR})
