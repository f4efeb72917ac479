// The parts of dlib 20's compiled sources a CPU-only DNN program needs (a trimmed
// dlib/all/source.cpp): threads for parallel_for, the CPU tensor kernels, the ODR check.
#include <dlib/test_for_odr_violations.cpp>
#include <dlib/threads/multithreaded_object_extension.cpp>
#include <dlib/threads/threaded_object_extension.cpp>
#include <dlib/threads/threads_kernel_1.cpp>
#include <dlib/threads/threads_kernel_2.cpp>
#include <dlib/threads/threads_kernel_shared.cpp>
#include <dlib/threads/thread_pool_extension.cpp>
#include <dlib/threads/async.cpp>
#include <dlib/misc_api/misc_api_kernel_1.cpp>
#include <dlib/misc_api/misc_api_kernel_2.cpp>
#include <dlib/timer/timer.cpp>
#include <dlib/cuda/cpu_dlib.cpp>
#include <dlib/cuda/tensor_tools.cpp>
