import Foundation

/// A moment as UTC calendar fields, to the second, worked out here: Foundation's ISO 8601
/// format style, its JSON date strategy and DateFormatter all load ICU's time zone and
/// calendar data and code for it. Without them a warm run's vmtest peaks at 46-47 MiB
/// resident, not 49.
public struct UTCTimestamp: Sendable, Hashable {
    var year: Int
    var month: Int
    var day: Int
    var hour: Int
    var minute: Int
    var second: Int

    public init(_ date: Date) {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let (days, time) = Self.floorDivision(seconds, 86_400)
        (year, month, day) = Self.civil(fromDays: days)
        (hour, minute, second) = (time / 3600, time % 3600 / 60, time % 60)
    }

    /// Reads what ``iso8601`` writes (`2026-12-02T07:25:22Z`), as manifests hold it.
    init?(iso8601 text: String) {
        let utf8 = Array(text.utf8)
        guard utf8.count == 20, utf8[19] == UInt8(ascii: "Z"),
            [4, 7].allSatisfy({ utf8[$0] == UInt8(ascii: "-") }), utf8[10] == UInt8(ascii: "T"),
            [13, 16].allSatisfy({ utf8[$0] == UInt8(ascii: ":") })
        else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            let digits = utf8[range]
            guard digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
            return digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
            let minute = number(14..<16), let second = number(17..<19), (1...12).contains(month), (1...31).contains(day),
            hour < 24, minute < 60, second < 60
        else { return nil }
        (self.year, self.month, self.day, self.hour, self.minute, self.second) = (year, month, day, hour, minute, second)
        // A day the month does not have (02-30) would name another day of the next month.
        guard UTCTimestamp(date) == self else { return nil }
    }

    var date: Date {
        let days = Self.days(fromCivil: year, month, day)
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + hour * 3600 + minute * 60 + second))
    }

    /// `2026-12-02T07:25:22Z`, as JSON and JUnit carry dates.
    public var iso8601: String {
        "\(digits(year, 4))-\(digits(month, 2))-\(digits(day, 2))T\(digits(hour, 2)):\(digits(minute, 2)):\(digits(second, 2))Z"
    }

    /// `20261202-072522`: sorts as the moment does, and fits a file name.
    var compact: String {
        "\(digits(year, 4))\(digits(month, 2))\(digits(day, 2))-\(digits(hour, 2))\(digits(minute, 2))\(digits(second, 2))"
    }

    /// Dates in vmtest's JSON, written and read without ICU.
    static let jsonEncoding = JSONEncoder.DateEncodingStrategy.custom { date, encoder in
        var container = encoder.singleValueContainer()
        try container.encode(UTCTimestamp(date).iso8601)
    }

    static let jsonDecoding = JSONDecoder.DateDecodingStrategy.custom { decoder in
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let timestamp = UTCTimestamp(iso8601: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a UTC time like 2026-12-02T07:25:22Z: \(text)")
        }
        return timestamp.date
    }

    private func digits(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    private static func floorDivision(_ value: Int, _ divisor: Int) -> (quotient: Int, remainder: Int) {
        let remainder = ((value % divisor) + divisor) % divisor
        return ((value - remainder) / divisor, remainder)
    }

    /// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
    /// `civil_from_days`: 400-year eras whose years start on 1 March).
    private static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let (era, dayOfEra) = floorDivision(days + 719_468, 146_097)
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// The inverse of ``civil(fromDays:)``.
    private static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int {
        let marchYear = month <= 2 ? year - 1 : year
        let (era, yearOfEra) = floorDivision(marchYear, 400)
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
