// swift-tools-version:6.1
// libFuzzer targets for the parsers that read what clients send. Built only
// with the fuzzer and address sanitizer, in a build directory of their own:
//
//     swift build --package-path Fuzz --build-path .build-fuzz -Xswiftc -sanitize=fuzzer,address --product FuzzJSON
//
// deploy/fuzz.sh builds and runs them; see "Fuzzing" in docs/testing.md.
import PackageDescription

let package = Package(
    name: "ftapi-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "finetune-api", path: ".."),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        // Declares libFuzzer's LLVMFuzzerRunDriver.
        .target(name: "CLibFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer"]),
        .executableTarget(
            name: "FuzzParams",
            dependencies: [
                "FuzzSupport", .product(name: "FastCGITransport", package: "finetune-api"), .product(name: "API", package: "finetune-api"),
            ]
        ),
        .executableTarget(name: "FuzzMultipart", dependencies: ["FuzzSupport", .product(name: "API", package: "finetune-api")]),
        .executableTarget(name: "FuzzJSON", dependencies: ["FuzzSupport", .product(name: "JSON", package: "finetune-api")]),
        .executableTarget(
            name: "FuzzDataset", dependencies: ["FuzzSupport", .product(name: "DatasetValidation", package: "finetune-api")]
        ),
        .executableTarget(
            name: "FuzzJWT",
            dependencies: [
                "FuzzSupport", .product(name: "API", package: "finetune-api"), .product(name: "JSON", package: "finetune-api"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
    ]
)
