import Domain
import Testing

/// `DatasetStore` as every backend implements it.
@Suite("DatasetStore conformance")
struct DatasetStoreConformance {
    @Test(arguments: StoreBackend.all)
    func insertedDatasetIsFoundWhole(_ backend: StoreBackend) throws {
        try backend.withDatabase { database in
            let store = try database.open()
            let record = dataset(userID: "alice", name: "support-chats", format: "sharegpt", examples: 1234)
            try store.datasets.insert(record)

            #expect(try store.datasets.find(id: record.id, userID: "alice") == record)
            #expect(try database.open().datasets.find(id: record.id, userID: "alice") == record)
            #expect(try store.datasets.find(id: record.id, userID: "bob") == nil)
            #expect(try store.datasets.find(id: uuid(), userID: "alice") == nil)
            #expect(try store.datasets.exists(name: "support-chats", userID: "alice"))
            #expect(try store.datasets.exists(name: "support-chats", userID: "bob") == false)
            #expect(try store.datasets.exists(name: "other", userID: "alice") == false)
        }
    }

    @Test(arguments: StoreBackend.all)
    func nameAndFileAreTaken(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let first = dataset(userID: "alice", name: "chats")
            try store.datasets.insert(first)
            #expect(performing: { try store.datasets.insert(dataset(userID: "alice", name: "chats")) }, throws: isDuplicate)
            var samePath = dataset(userID: "bob")
            samePath.filePath = first.filePath
            #expect(performing: { try store.datasets.insert(samePath) }, throws: isDuplicate)
            try store.datasets.insert(dataset(userID: "bob", name: "chats"))
            #expect(try store.datasets.list(userID: "alice", limit: 10, offset: 0).total == 1)
        }
    }

    @Test(arguments: StoreBackend.all)
    func listIsNewestFirstWithTotal(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let records = (0..<5).map { dataset(userID: "alice", name: "d\($0)", createdAt: instant(Double($0))) }
            for index in [2, 4, 0, 3, 1] { try store.datasets.insert(records[index]) }
            try store.datasets.insert(dataset(userID: "bob", createdAt: instant(9)))

            let all = try store.datasets.list(userID: "alice", limit: 10, offset: 0)
            #expect(all.datasets == records.reversed())
            #expect(all.total == 5)
            let page = try store.datasets.list(userID: "alice", limit: 2, offset: 3)
            #expect(page.datasets.map(\.name) == ["d1", "d0"] && page.total == 5)
            let nobody = try store.datasets.list(userID: "carol", limit: 10, offset: 0)
            #expect(nobody.datasets.isEmpty && nobody.total == 0)
        }
    }

    @Test(arguments: StoreBackend.all)
    func listBreaksTimeTiesDeterministically(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            for _ in 0..<5 { try store.datasets.insert(dataset(userID: "alice")) }
            let whole = try store.datasets.list(userID: "alice", limit: 5, offset: 0).datasets.map(\.id)
            let paged = try (0..<3).flatMap { try store.datasets.list(userID: "alice", limit: 2, offset: $0 * 2).datasets.map(\.id) }
            #expect(paged == whole)
            #expect(Set(whole).count == 5)
        }
    }

    @Test(arguments: StoreBackend.all)
    func deleteWaitsForJobsToEnd(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let record = dataset(userID: "alice", name: "chats")
            try store.datasets.insert(record)
            let users = [JobStatus.pending, .running, .paused].map { job(userID: "alice", status: $0, datasetID: record.id) }
            try store.trainingJobs.insert(users + [job(userID: "alice", status: .completed, datasetID: record.id)])

            #expect(try store.datasets.delete(id: record.id, userID: "bob") == .notFound)
            #expect(try store.datasets.delete(id: uuid(), userID: "alice") == .notFound)
            for (index, user) in users.enumerated() {
                #expect(try store.datasets.delete(id: record.id, userID: "alice") == .inUse(jobs: users.count - index))
                _ = try store.trainingJobs.update(id: user.id, userID: "alice") { $0.status = .cancelled }
            }
            #expect(try store.datasets.find(id: record.id, userID: "alice") == record)

            #expect(try store.datasets.delete(id: record.id, userID: "alice") == .deleted(record))
            #expect(try store.datasets.find(id: record.id, userID: "alice") == nil)
            #expect(try store.datasets.exists(name: "chats", userID: "alice") == false)
            #expect(try store.datasets.delete(id: record.id, userID: "alice") == .notFound)
            // Gone for new jobs (a restart of a job that used it), and its name is free again.
            #expect(performing: { try store.trainingJobs.insert([job(userID: "alice", datasetID: record.id)]) }, throws: isMissingReference)
            try store.datasets.insert(dataset(userID: "alice", name: "chats"))
        }
    }

    @Test(arguments: StoreBackend.all)
    func allFilePathsListsEveryUsersRecords(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            #expect(try store.datasets.allFilePaths().isEmpty)
            let records = [dataset(userID: "alice"), dataset(userID: "alice"), dataset(userID: "bob")]
            for record in records { try store.datasets.insert(record) }
            #expect(try store.datasets.allFilePaths() == Set(records.map(\.filePath)))
            _ = try store.datasets.delete(id: records[0].id, userID: "alice")
            #expect(try store.datasets.allFilePaths() == Set(records.dropFirst().map(\.filePath)))
        }
    }

    @Test(arguments: StoreBackend.all)
    func idsOtherThanAStoredOneNameNoDataset(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let record = dataset(userID: "alice")
            try store.datasets.insert(record)
            for id in ["", "nope", record.id.uppercased(), "{\(record.id)}", record.id.replacingOccurrences(of: "-", with: ""), record.id + " "] {
                #expect(try store.datasets.find(id: id, userID: "alice") == nil, "\(id)")
                #expect(try store.datasets.delete(id: id, userID: "alice") == .notFound, "\(id)")
            }
            #expect(try store.datasets.find(id: record.id, userID: "alice") == record)
        }
    }

    @Test(arguments: StoreBackend.all)
    func listOrdersByTheMillisecond(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let records = (0..<3).map { dataset(userID: "alice", createdAt: Timestamp(millisecondsSinceEpoch: 1_766_000_000_000 + Int64($0))) }
            for record in records.reversed() { try store.datasets.insert(record) }
            #expect(try store.datasets.list(userID: "alice", limit: 10, offset: 0).datasets == records.reversed())
        }
    }
}
