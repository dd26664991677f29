import Foundation

/// `ioctl(2)` with one integer-sized argument.
///
/// Swift does not import C variadic functions; on the Linux ABIs vmtest runs on
/// (x86_64, aarch64) a variadic integer or pointer argument is passed exactly like a
/// fixed one, so the symbol is called through a fixed signature.
enum IOControl {
    private typealias Function = @convention(c) (Int32, UInt, Int) -> Int32

    private static let function: Function? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "ioctl") else {
            return nil
        }
        return unsafeBitCast(symbol, to: Function.self)
    }()

    static func call(_ fd: Int32, _ request: UInt, _ argument: Int) -> Int32 {
        function?(fd, request, argument) ?? -1
    }

    static func call<T>(_ fd: Int32, _ request: UInt, _ argument: inout T) -> Int32 {
        withUnsafeMutablePointer(to: &argument) { call(fd, request, Int(bitPattern: $0)) }
    }
}
