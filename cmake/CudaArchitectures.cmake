# Default CUDA architectures: the release set, limited to what this nvcc can generate.
# Real code for every architecture from Turing (sm_75) through the newest this nvcc knows in the
# list below, and PTX for the newest so future GPUs can JIT-compile it. A user-given
# CMAKE_CUDA_ARCHITECTURES (e.g. CI passing a single architecture) always wins.
#
# Why these: real code for an sm_XY runs on every GPU of major X with a minor >= Y, and PTX only
# on GPUs at or above its own architecture. So 87 covers Jetson Orin (and 88), 100 the other
# Blackwell datacenter parts (103), 120 the GeForce/workstation and GB10 parts (121); Jetson
# Thor is major 11 under CUDA 13 (sm_110; CUDA 12.8/12.9 called it sm_101 and 100 covers it),
# which neither sm_100 code nor compute_120 PTX can serve, so it is listed itself.
function(trtops_default_cuda_architectures)
  if(DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT CMAKE_CUDA_ARCHITECTURES STREQUAL "")
    return()
  endif()
  if(DEFINED ENV{CUDAARCHS})
    return()  # CMake's own environment override
  endif()
  execute_process(COMMAND "${CMAKE_CUDA_COMPILER}" --list-gpu-code
                  OUTPUT_VARIABLE known RESULT_VARIABLE rc ERROR_QUIET)
  set(release 75 80 86 87 89 90 100 110 120)
  set(archs "")
  set(newest "")
  foreach(arch IN LISTS release)
    if(rc EQUAL 0 AND known MATCHES "sm_${arch}[\r\n]")
      list(APPEND archs "${arch}-real")
      set(newest ${arch})
    endif()
  endforeach()
  if(newest STREQUAL "")
    set(archs "75-real;80-real;86-real;89-real;90")  # nvcc too old to list its targets
  else()
    list(APPEND archs "${newest}-virtual")
  endif()
  set(CMAKE_CUDA_ARCHITECTURES "${archs}" CACHE STRING "CUDA architectures to build for" FORCE)
endfunction()
