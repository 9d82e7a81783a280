fn main() -> std::process::ExitCode {
    hitl::cli::main()
}
