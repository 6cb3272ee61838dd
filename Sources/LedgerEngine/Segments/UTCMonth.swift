// Calendar months in UTC, computed from engine timestamps without Foundation
// (the proleptic Gregorian calendar; Howard Hinnant's days_from_civil and
// civil_from_days). A segment holds exactly the events whose timestamps fall
// in its month: [start, next month's start).
public struct UTCMonth: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let year: Int
    public let month: Int  // 1...12

    public init(year: Int, month: Int) {
        precondition((1...12).contains(month), "month \(month)")
        precondition((1970...9999).contains(year), "year \(year)")
        self.year = year
        self.month = month
    }

    static let nanosecondsPerDay: UInt64 = 86_400 * 1_000_000_000

    /// The month containing `timestampNs` (ns since 1970-01-01T00:00:00Z).
    public init(containing timestampNs: UInt64) {
        let days = Int(timestampNs / Self.nanosecondsPerDay)
        let (y, m, _) = Self.civil(fromDays: days)
        self.init(year: y, month: m)
    }

    /// First nanosecond of the month.
    public var startNs: UInt64 { UInt64(Self.days(year: year, month: month, day: 1)) * Self.nanosecondsPerDay }

    public var next: UTCMonth { month == 12 ? UTCMonth(year: year + 1, month: 1) : UTCMonth(year: year, month: month + 1) }

    /// True when `timestampNs` lies in this month.
    public func contains(_ timestampNs: UInt64) -> Bool { timestampNs >= startNs && timestampNs < next.startNs }

    public var description: String { DataDirectoryLayout.segmentFileName(self).replacingSuffix(".seg") }

    public static func < (a: UTCMonth, b: UTCMonth) -> Bool { (a.year, a.month) < (b.year, b.month) }

    /// Days since 1970-01-01 of a civil date.
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Civil date of a day count since 1970-01-01.
    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension String {
    fileprivate func replacingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}

extension UTCMonth {
    /// Months since year 0 (`year × 12 + month − 1`): a dense, ordered key.
    public var number: Int { year * 12 + month - 1 }

    public init(number: Int) { self.init(year: number / 12, month: number % 12 + 1) }

    /// Years a month may have (`init(year:month:)` traps outside them).
    public static let years = 1970...9999

    /// For numbers read from a file: nil outside `years` instead of a trap
    /// (found by fuzzing: a segment header naming month 0 as its previous).
    public init?(checkedNumber number: Int) {
        guard number >= 0, Self.years.contains(number / 12) else { return nil }
        self.init(number: number)
    }

    /// For a year and month read from a file: nil when either is out of range.
    public init?(checkedYear year: Int, month: Int) {
        guard Self.years.contains(year), (1...12).contains(month) else { return nil }
        self.init(year: year, month: month)
    }
}
