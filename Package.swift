// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "finetune-api",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ftapi", targets: ["ftapi"]),
        // For the fuzz targets in Fuzz/ (a package of their own that depends on this one by path).
        .library(name: "FastCGITransport", targets: ["FastCGITransport"]),
        .library(name: "JSON", targets: ["JSON"]),
        .library(name: "DatasetValidation", targets: ["DatasetValidation"]),
        .library(name: "API", targets: ["API"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CFastCGI",
            pkgConfig: "fcgi",
            providers: [.apt(["libfcgi-dev"])]
        ),
        .systemLibrary(name: "CEpoll"),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(
            name: "HTTPClient",
            dependencies: ["CCurl"]
        ),
        // The layers of the data path, each importing only those below it.
        .target(name: "Essentials"),
        .target(
            name: "HTTPCore",
            dependencies: ["Essentials"]
        ),
        .target(
            name: "FastCGITransport",
            dependencies: ["CFastCGI", "HTTPCore", "Essentials"]
        ),
        .target(
            name: "Pool",
            dependencies: [
                "CEpoll", "FastCGITransport", "HTTPCore", "JSON", "Essentials",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "JSON",
            dependencies: ["Essentials"]
        ),
        .target(
            name: "DatasetValidation",
            dependencies: ["JSON", "Essentials"]
        ),
        // The model, its rules and the store protocols: what the API serves, with no database in sight.
        .target(
            name: "Domain",
            dependencies: ["Essentials"]
        ),
        // Domain's stores on SQLite and on PostgreSQL.
        .target(
            name: "Storage",
            dependencies: ["Domain", "CSQLite", "CLibPQ", "Essentials"]
        ),
        .target(
            name: "API",
            dependencies: [
                "HTTPCore", "JSON", "DatasetValidation", "Domain", "Essentials",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "ftapi",
            dependencies: [
                "API", "Pool", "FastCGITransport", "HTTPCore", "JSON", "DatasetValidation", "Domain", "Storage", "Essentials", "HTTPClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // The slow log names the functions on a thread's stack with dladdr, which sees exported symbols only.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--export-dynamic"])]
        ),
        // nginx's side of a FastCGI connection, written by hand, for the transport's and the pool's tests.
        .target(
            name: "FastCGITestSupport",
            dependencies: ["FastCGITransport"],
            path: "Tests/FastCGITestSupport"
        ),
        // Migrated databases for the store and handler tests without a migration each: SQLite files copied from one
        // template per test process, PostgreSQL schemas emptied and handed out again.
        .target(
            name: "TestDatabases",
            dependencies: ["Storage", "CLibPQ"],
            path: "Tests/TestDatabases"
        ),
        // Each test target mirrors a source target and depends on what its files import.
        .testTarget(
            name: "JSONTests",
            dependencies: ["JSON"]
        ),
        .testTarget(
            name: "DatasetValidationTests",
            dependencies: ["DatasetValidation", "JSON"],
            // Read by path (#filePath), not bundled: the corpus and its expected reports.
            exclude: ["DatasetCorpus"]
        ),
        .testTarget(
            name: "DomainTests",
            dependencies: ["Domain"]
        ),
        .testTarget(
            name: "FastCGITransportTests",
            dependencies: ["FastCGITransport", "HTTPCore", "Essentials", "FastCGITestSupport"]
        ),
        .testTarget(
            name: "PoolTests",
            dependencies: [
                "Pool", "FastCGITransport", "HTTPCore", "Essentials", "FastCGITestSupport", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "APITests",
            dependencies: [
                "API", "HTTPCore", "JSON", "Domain", "Storage", "Essentials", "Pool", "TestDatabases",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "StorageTests",
            dependencies: ["Domain", "Storage", "Essentials", "TestDatabases"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["Domain", "Storage", "Essentials", .product(name: "Crypto", package: "swift-crypto")]
        ),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    target.swiftSettings = settings
}
