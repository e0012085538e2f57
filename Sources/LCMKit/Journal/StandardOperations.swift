extension OperationRegistry {
    /// Every operation kind lcm itself runs; each phase registers its kinds here.
    public static var standard: OperationRegistry {
        OperationRegistry()
    }
}
