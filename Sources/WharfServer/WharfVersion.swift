/// The release this build is; `wharf --version` prints it, the server logs it at start and exposes it as
/// `wharf_build_info{version=…}`.
public enum WharfVersion {
    public static let current = "0.7.0"
}
