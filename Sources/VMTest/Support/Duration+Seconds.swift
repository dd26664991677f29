/// Durations as the reports and progress lines print them: seconds with a fraction.
extension Duration {
    /// Seconds as a floating-point number.
    public var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }
}
