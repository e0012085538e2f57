extension OperationRegistry {
    /// Every operation kind lcm itself runs; each phase registers its kinds here, so that
    /// `lcm recover` and the next run on an object can rebuild and clean up what a dead run left.
    public static var standard: OperationRegistry {
        var registry = OperationRegistry()
        registry.register(DiskBatchOperation.self)
        registry.register(ImageImportOperation.self)
        registry.register(ImageDerivationOperation<DriverInjection>.self)
        registry.register(ImageDerivationOperation<ImagePatch>.self)
        registry.register(DeployPrepareOperation.self)
        return registry
    }
}
