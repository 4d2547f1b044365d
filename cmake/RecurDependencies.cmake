# Finds every dependency: Debian's packages and /usr/local/cuda. Nothing is downloaded.
find_package(fmt REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(Threads REQUIRED)

# OpenBLAS: Debian installs cblas.h under /usr/include/<triplet>/ (openblas-pthread).
set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
find_path(RECUR_CBLAS_INCLUDE_DIR cblas.h
  PATH_SUFFIXES openblas-pthread x86_64-linux-gnu/openblas-pthread x86_64-linux-gnu openblas
  PATHS /usr/include /usr/include/x86_64-linux-gnu/openblas-pthread)
if(NOT RECUR_CBLAS_INCLUDE_DIR)
  message(FATAL_ERROR "cblas.h not found: install libopenblas-dev (scripts/setup-deps.sh)")
endif()

# oneDNN's GEMM (dnnl_sgemm), optional. Found by its library and header rather than its CMake
# package: Debian's dnnl-config.cmake requires OpenCL's headers and library (an error that QUIET
# does not silence), which recur does not use.
set(RECUR_HAVE_ONEDNN 0)
if(NOT RECUR_ONEDNN STREQUAL "OFF")
  find_library(RECUR_DNNL_LIBRARY dnnl)
  find_path(RECUR_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.h)
  if(RECUR_DNNL_LIBRARY AND RECUR_DNNL_INCLUDE_DIR)
    add_library(recur_dnnl INTERFACE IMPORTED)
    set_target_properties(recur_dnnl PROPERTIES INTERFACE_LINK_LIBRARIES ${RECUR_DNNL_LIBRARY}
                                                INTERFACE_INCLUDE_DIRECTORIES ${RECUR_DNNL_INCLUDE_DIR})
    set(RECUR_DNNL_TARGET recur_dnnl)
    set(RECUR_HAVE_ONEDNN 1)
  elseif(RECUR_ONEDNN STREQUAL "ON")
    message(FATAL_ERROR "RECUR_ONEDNN=ON but oneDNN was not found (install libdnnl-dev)")
  endif()
endif()
message(STATUS "recur: oneDNN GEMM ${RECUR_HAVE_ONEDNN}")

# CUDA: nvcc, cuBLAS and cuDNN (also from CUDNN_ROOT, and a versioned libcudnn.so.9).
set(RECUR_HAVE_CUDA 0)
set(RECUR_CUDNN_VERSION "")
if(NOT RECUR_CUDA STREQUAL "OFF")
  include(RecurCuda)
endif()
message(STATUS "recur: CUDA backend ${RECUR_HAVE_CUDA} ${RECUR_CUDNN_VERSION}")

# MPI (Debian's libopenmpi-dev): the process group of data-parallel training. The MPI headers are
# private to recur_backends (backends/mpi/).
set(RECUR_HAVE_MPI 0)
if(NOT RECUR_MPI STREQUAL "OFF")
  find_package(MPI COMPONENTS CXX QUIET)
  if(MPI_CXX_FOUND)
    set(RECUR_HAVE_MPI 1)
  elseif(RECUR_MPI STREQUAL "ON")
    message(FATAL_ERROR "RECUR_MPI=ON but MPI was not found (install libopenmpi-dev openmpi-bin)")
  endif()
endif()
message(STATUS "recur: MPI ${RECUR_HAVE_MPI} ${MPI_CXX_VERSION}")

# NCCL, next to the CUDA toolkit (it ships in /usr/local/cuda): all-reduces CUDA tensors. Its
# communicator is set up over MPI, so it needs both.
set(RECUR_HAVE_NCCL 0)
if(NOT RECUR_NCCL STREQUAL "OFF")
  if(RECUR_HAVE_CUDA AND RECUR_HAVE_MPI)
    set(_nccl_hints ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_LIBRARY_ROOT} /usr/local/cuda)
    find_path(RECUR_NCCL_INCLUDE_DIR nccl.h HINTS ${_nccl_hints} PATH_SUFFIXES include)
    find_library(RECUR_NCCL_LIBRARY NAMES nccl libnccl.so.2 HINTS ${_nccl_hints}
                 PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu)
    if(RECUR_NCCL_INCLUDE_DIR AND RECUR_NCCL_LIBRARY)
      add_library(recur_nccl INTERFACE IMPORTED)
      set_target_properties(recur_nccl PROPERTIES INTERFACE_LINK_LIBRARIES ${RECUR_NCCL_LIBRARY}
                                                  INTERFACE_INCLUDE_DIRECTORIES ${RECUR_NCCL_INCLUDE_DIR})
      set(RECUR_HAVE_NCCL 1)
    endif()
  endif()
  if(NOT RECUR_HAVE_NCCL AND RECUR_NCCL STREQUAL "ON")
    message(FATAL_ERROR "RECUR_NCCL=ON but NCCL, CUDA or MPI was not found (CUDA ${RECUR_HAVE_CUDA}, "
                        "MPI ${RECUR_HAVE_MPI}, nccl.h: '${RECUR_NCCL_INCLUDE_DIR}'; set NCCL_ROOT)")
  endif()
endif()
message(STATUS "recur: NCCL ${RECUR_HAVE_NCCL}")
