import Foundation
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Downloads one file to a `.part` file, resuming what an earlier attempt left there.
///
/// HTTP goes through FoundationNetworking's `URLSession` (it ships with the toolchain, so
/// it costs no build time) with a delegate that streams each chunk to disk, never holding
/// the image in memory. A `.part` file that exists is continued with `Range: bytes=N-`: a
/// `206` response appends, a `200` (a server without ranges) starts over. A connection
/// lost mid-way is retried from where it stopped, as long as each attempt makes progress.
/// `file://` URLs are a plain streaming copy.
public struct ImageFetcher: Sendable {
    public var reporter: any Reporter
    /// Attempts in a row that may end in a lost connection.
    public var attempts = 5
    /// Seconds without a byte before an HTTP attempt gives up.
    public var idleTimeout: TimeInterval = 60

    public init(reporter: any Reporter) {
        self.reporter = reporter
    }

    /// What a fetch brought: its size, where it was continued, how long it took.
    public struct Download: Sendable, Hashable {
        public var bytes: Int64
        /// The offsets at which the server continued the file (206), one per resumed
        /// attempt: a partial file from an earlier run, or a connection lost in this one.
        public var resumedFrom: [Int64]
        public var seconds: Double
    }

    /// Fetches `url` into `part`, continuing a partial `part` when it exists.
    public func fetch(_ url: URL, to part: URL, label: String) async throws -> Download {
        let started = ContinuousClock.now
        if url.isFileURL {
            let bytes = try await copyFile(url, to: part, label: label)
            return Download(bytes: bytes, resumedFrom: [], seconds: (ContinuousClock.now - started).seconds)
        }
        guard url.scheme == "http" || url.scheme == "https" else {
            throw ImageError.downloadFailed(url: url.absoluteString, reason: "only http(s):// and file:// URLs can be fetched")
        }
        var resumedFrom: [Int64] = []
        var failures = 0
        while true {
            let have = Self.size(of: part)
            if have > 0 {
                reporter.detail(label, "resuming \(url.lastPathComponent) at \(Self.formatBytes(have))")
            }
            do {
                let bytes = try await httpAttempt(url, to: part, offset: have, label: label, resumedFrom: &resumedFrom)
                return Download(bytes: bytes, resumedFrom: resumedFrom, seconds: (ContinuousClock.now - started).seconds)
            } catch HTTPAttemptError.rangeNotSatisfiable where failures == 0 {
                failures += 1
                try? FileManager.default.removeItem(at: part)
            } catch let error as HTTPAttemptError {
                failures += 1
                let progressed = Self.size(of: part) > have
                guard case .transport(let reason) = error, progressed || failures < 2, failures < attempts else {
                    throw ImageError.downloadFailed(url: url.absoluteString, reason: error.reason)
                }
                reporter.note("the download of \(url.lastPathComponent) was interrupted (\(reason)); resuming")
                try Task.checkCancellation()
            }
        }
    }

    /// Fetches a small file (a checksum list) into memory.
    public func fetchText(_ url: URL, scratch: URL, label: String) async throws -> String {
        if url.isFileURL {
            do {
                return try String(contentsOf: url, encoding: .utf8)
            } catch {
                throw ImageError.downloadFailed(url: url.absoluteString, reason: "cannot read it: \(error.localizedDescription)")
            }
        }
        try? FileManager.default.removeItem(at: scratch)
        defer { try? FileManager.default.removeItem(at: scratch) }
        var quiet = self
        quiet.reporter = SilentReporter()
        _ = try await quiet.fetch(url, to: scratch, label: label)
        return String(decoding: try Data(contentsOf: scratch), as: UTF8.self)
    }

    // MARK: HTTP

    enum HTTPAttemptError: Error {
        case status(Int)
        case transport(String)
        case badRange(String)
        case rangeNotSatisfiable
        case file(String)

        var reason: String {
            switch self {
            case .status(let code): return "the server answered HTTP \(code)"
            case .transport(let reason): return reason
            case .badRange(let reason): return "the server's Content-Range does not fit: \(reason)"
            case .rangeNotSatisfiable: return "the server cannot resume it (HTTP 416)"
            case .file(let reason): return reason
            }
        }
    }

    /// One request; appends the offset to `resumedFrom` when the server continued there (206).
    private func httpAttempt(_ url: URL, to part: URL, offset: Int64, label: String, resumedFrom: inout [Int64]) async throws -> Int64 {
        var request = URLRequest(url: url)
        request.timeoutInterval = idleTimeout
        if offset > 0 { request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }
        let progress = ProgressMeter(reporter: reporter, label: label, name: url.lastPathComponent)
        let delegate = StreamingDelegate(part: part, offset: offset, progress: progress)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = idleTimeout
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: queue)
        defer {
            session.finishTasksAndInvalidate()
            if let start = delegate.resumedAt { resumedFrom.append(start) }
        }
        let task = session.dataTask(with: request)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int64, any Error>) in
                delegate.start(continuation)
                task.resume()
            }
        } onCancel: {
            task.cancel()
        }
    }

    // MARK: file://

    private func copyFile(_ source: URL, to part: URL, label: String) async throws -> Int64 {
        let input: FileHandle
        do {
            input = try FileHandle(forReadingFrom: source)
        } catch {
            throw ImageError.downloadFailed(url: source.absoluteString, reason: "cannot open it: \(error.localizedDescription)")
        }
        defer { try? input.close() }
        try? FileManager.default.removeItem(at: part)
        _ = FileManager.default.createFile(atPath: part.path, contents: nil)
        let output = try FileHandle(forWritingTo: part)
        defer { try? output.close() }
        let total = (try? FileManager.default.attributesOfItem(atPath: source.path)[.size] as? Int64) ?? nil
        let progress = ProgressMeter(reporter: reporter, label: label, name: source.lastPathComponent)
        progress.started(at: 0, total: total)
        var copied: Int64 = 0
        while let chunk = try input.read(upToCount: 4 << 20), !chunk.isEmpty {
            try output.write(contentsOf: chunk)
            copied += Int64(chunk.count)
            progress.advanced(to: copied)
            try Task.checkCancellation()
        }
        return copied
    }

    // MARK: helpers

    static func size(of file: URL) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: file.path)[.size]) as? NSNumber)?.int64Value ?? 0
    }

    static func formatBytes(_ bytes: Int64) -> String {
        let mib = Double(bytes) / 1_048_576
        return mib >= 1024 ? String(format: "%.2f GiB", mib / 1024) : String(format: "%.1f MiB", mib)
    }

    /// `bytes 100-199/1000` -> (100, 1000); total is nil for `*`.
    static func parseContentRange(_ header: String) -> (start: Int64, total: Int64?)? {
        let parts = header.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bytes" else { return nil }
        let rangeAndTotal = parts[1].split(separator: "/", maxSplits: 1)
        guard rangeAndTotal.count == 2, let dash = rangeAndTotal[0].firstIndex(of: "-"),
            let start = Int64(rangeAndTotal[0][..<dash])
        else { return nil }
        return (start, Int64(rangeAndTotal[1]))
    }
}

/// Receives one HTTP response and appends its body to the `.part` file.
private final class StreamingDelegate: NSObject, URLSessionDataDelegate, Sendable {
    private let part: URL
    private let offset: Int64
    private let progress: ProgressMeter
    private let transfer = Mutex(Transfer())
    private let continuation = Mutex<CheckedContinuation<Int64, any Error>?>(nil)
    private let resumed = Mutex<Int64?>(nil)

    /// The response's file and how far it got; the session calls its delegate on one
    /// serial queue, so the lock is never contended, only required.
    private struct Transfer {
        var handle: FileHandle?
        var written: Int64 = 0
        var failure: ImageFetcher.HTTPAttemptError?
    }

    /// Where the server continued the file, when it answered a range request with 206.
    var resumedAt: Int64? { resumed.withLock { $0 } }

    init(part: URL, offset: Int64, progress: ProgressMeter) {
        self.part = part
        self.offset = offset
        self.progress = progress
    }

    func start(_ continuation: CheckedContinuation<Int64, any Error>) {
        self.continuation.withLock { $0 = continuation }
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        guard let http = response as? HTTPURLResponse else {
            fail(.transport("not an HTTP response"))
            completionHandler(.cancel)
            return
        }
        var start: Int64 = 0
        switch http.statusCode {
        case 206 where offset > 0:
            let header = http.value(forHTTPHeaderField: "Content-Range") ?? ""
            guard let range = ImageFetcher.parseContentRange(header), range.start == offset else {
                fail(.badRange("asked for bytes \(offset)-, got '\(header)'"))
                completionHandler(.cancel)
                return
            }
            start = offset
            resumed.withLock { $0 = offset }
        case 200:
            start = 0  // no ranges: start over
        case 416 where offset > 0:
            fail(.rangeNotSatisfiable)  // the part is as long as the file, or longer: start over
            completionHandler(.cancel)
            return
        default:
            fail(.status(http.statusCode))
            completionHandler(.cancel)
            return
        }
        do {
            if start == 0 {
                _ = FileManager.default.createFile(atPath: part.path, contents: nil)
            }
            let handle = try FileHandle(forWritingTo: part)
            try handle.truncate(atOffset: UInt64(start))
            try handle.seekToEnd()
            transfer.withLock {
                $0.handle = handle
                $0.written = start
            }
        } catch {
            fail(.file("cannot write \(part.path): \(error.localizedDescription)"))
            completionHandler(.cancel)
            return
        }
        let length = http.expectedContentLength
        progress.started(at: start, total: length >= 0 ? start + length : nil)
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let written: Int64? = transfer.withLock { transfer in
            guard transfer.failure == nil, let handle = transfer.handle else { return nil }
            do {
                try handle.write(contentsOf: data)
                transfer.written += Int64(data.count)
                return transfer.written
            } catch {
                transfer.failure = .file("cannot write \(part.path): \(error.localizedDescription)")
                return nil
            }
        }
        if let written {
            progress.advanced(to: written)
        } else if transfer.withLock({ $0.failure != nil }) {
            dataTask.cancel()
        }
    }

    private func fail(_ failure: ImageFetcher.HTTPAttemptError) {
        transfer.withLock { $0.failure = failure }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let (failure, written) = transfer.withLock { transfer in
            try? transfer.handle?.synchronize()
            try? transfer.handle?.close()
            transfer.handle = nil
            return (transfer.failure, transfer.written)
        }
        let result: Result<Int64, any Error>
        if let failure {
            result = .failure(failure)
        } else if let error {
            if (error as? URLError)?.code == .cancelled {
                result = .failure(CancellationError())
            } else {
                result = .failure(ImageFetcher.HTTPAttemptError.transport(error.localizedDescription))
            }
        } else {
            result = .success(written)
        }
        continuation.withLock {
            $0?.resume(with: result)
            $0 = nil
        }
    }
}
